import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BridgeAdapter, NatAdapter, NetRunner } from '../../services/privhelper/src/adapters/net/index.js';
import { NetnsDnsProcess } from '../../services/privhelper/src/adapters/net/dnsProcess.js';
import { hostSetOf } from '../../services/privhelper/src/domain/network/natRuleset.js';
import type { EgressPolicy } from '../../services/privhelper/src/domain/network/egressPolicy.js';
import type { VmFence } from '../../services/privhelper/src/domain/network/vmFence.js';
import { Netns, netnsUnavailableReason } from '../harness/netns.js';

const skip = netnsUnavailableReason();
if (skip) console.warn(`[integration/net] guest fence tests skipped: ${skip}`);

const PEER = fileURLToPath(new URL('./peer.ts', import.meta.url));
const FRAMES = fileURLToPath(new URL('./frames.py', import.meta.url));
const BR = 'bgr-t2';
const CIDR = '172.30.6.0/24';
const GW = '172.30.6.1';
const PORT = 7000;
const allow: EgressPolicy = { mode: 'allow', cidrs: [], hostnames: [] };
const deny: EgressPolicy = { mode: 'deny', cidrs: [], hostnames: [] };

/** Destinations a guest must not reach unless listed: each lives in L (the "LAN"), one hop from H. */
const LAN = { rfc1918: '10.77.0.2', rfc1918b: '192.168.77.2', cgnat: '100.64.7.2', linkLocal: '169.254.169.254' };
const INTERNET = '198.51.100.2';
const INTERNET_B = '198.51.100.3';

const A: VmFence = { vmId: 'vm-a', tap: 'bgrtap90', ipv4: '172.30.6.10', mac: '02:bb:00:00:06:0a', egress: allow };
const B: VmFence = { vmId: 'vm-b', tap: 'bgrtap91', ipv4: '172.30.6.11', mac: '02:bb:00:00:06:0b', egress: allow };

const u = (host: string, port = PORT) => `udp:${host}:${port}`;
const t = (host: string, port = PORT) => `tcp:${host}:${port}`;

/**
 * Fake guests without a hypervisor: A and B are namespaces whose veth peers sit on H's bridge
 * under tap names, so they get exactly the treatment a QEMU tap gets. H is banger's host side
 * (bridge, uplink to I, the "internet" at TEST-NET-2, and a LAN link to L holding private,
 * CGNAT and link-local addresses). Masquerading goes out of anything but the bridge, so every
 * probe below would be answered if the fences did not drop it; the first test shows that.
 */
describe.skipIf(skip !== undefined)('guest fences: anti-spoofing, host input, forwarding, per-VM egress', () => {
  let h: Netns, a: Netns, b: Netns, l: Netns, i: Netns;
  let run: NetRunner;
  let nat: NatAdapter;
  const servers: ChildProcess[] = [];
  const dnsProcs: NetnsDnsProcess[] = [];
  let hostServer: ChildProcess | undefined;

  async function serve(ns: Netns, ports: string): Promise<ChildProcess> {
    const w = ns.wrap(process.execPath, ['--import', 'tsx', PEER, 'serve', ports]);
    const p = spawn(w.file, w.args, { stdio: ['pipe', 'pipe', 'inherit'] });
    servers.push(p);
    await once(p.stdout!, 'data');
    return p;
  }

  async function dnsAsk(ns: Netns, name: string): Promise<{ rcode?: number; answers?: { data: string }[]; error?: string }> {
    return JSON.parse(await ns.must(process.execPath, ['--import', 'tsx', PEER, 'dns-ask', GW, '53', name])) as { rcode?: number; answers?: { data: string }[] };
  }

  async function probe(ns: Netns, ...targets: string[]): Promise<Record<string, string>> {
    return JSON.parse(await ns.must(process.execPath, ['--import', 'tsx', PEER, 'probe', ...targets])) as Record<string, string>;
  }

  /** Sends raw frames from a guest and answers which markers reached H's bridge interface. */
  async function framesSeen(from: Netns, sends: [mac: string, kind: string, marker: string, ip?: string][]): Promise<string[]> {
    const w = h.wrap('python3', [FRAMES, 'sniff', BR, '2', ...sends.map((s) => s[2])]);
    const sniff = spawn(w.file, w.args, { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = once(sniff, 'exit');
    let out = '';
    sniff.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await new Promise<void>((resolve) => sniff.stdout.once('data', () => resolve()));
    await from.must('python3', [FRAMES, 'send', 'eth0', ...sends.map((s) => s.filter((x) => x !== undefined).join(','))]);
    await exited;
    return out.split('\n').filter((x) => x !== '' && x !== 'ready').sort();
  }

  async function guest(ns: Netns, f: VmFence): Promise<void> {
    await h.must('ip', ['link', 'add', f.tap, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns.name]);
    await h.must('ip', ['link', 'set', f.tap, 'master', BR, 'up']);
    await ns.must('ip', ['link', 'set', 'eth0', 'address', f.mac]);
    await ns.must('ip', ['addr', 'add', `${f.ipv4}/24`, 'dev', 'eth0']);
    await ns.must('ip', ['link', 'set', 'eth0', 'up']);
    await ns.must('ip', ['route', 'add', 'default', 'via', GW]);
  }

  async function link(peer: Netns, here: string, there: string, pairs: [string, string][]): Promise<void> {
    await h.must('ip', ['link', 'add', here, 'type', 'veth', 'peer', 'name', there, 'netns', peer.name]);
    for (const [mine, theirs] of pairs) {
      await h.must('ip', ['addr', 'add', mine, 'dev', here]);
      await peer.must('ip', ['addr', 'add', theirs, 'dev', there]);
    }
    await h.must('ip', ['link', 'set', here, 'up']);
    await peer.must('ip', ['link', 'set', there, 'up']);
  }

  beforeAll(async () => {
    [h, a, b, l, i] = await Promise.all([Netns.create(), Netns.create(), Netns.create(), Netns.create(), Netns.create()]);
    run = new NetRunner({ netns: h.name });
    await new BridgeAdapter(run).ensure({ bridge: BR, gatewayCidr: `${GW}/24` });
    await run.sysctlInNetns('net.ipv4.ip_forward', '1');
    await link(i, 'up0', 'wan0', [['198.51.100.1/24', `${INTERNET}/24`]]);
    await i.must('ip', ['addr', 'add', `${INTERNET_B}/24`, 'dev', 'wan0']);
    await link(l, 'lan0', 'lan0', [
      ['10.77.0.1/24', `${LAN.rfc1918}/24`],
      ['192.168.77.1/24', `${LAN.rfc1918b}/24`],
      ['100.64.7.1/24', `${LAN.cgnat}/24`],
      ['169.254.169.1/24', `${LAN.linkLocal}/24`],
    ]);
    await guest(a, A);
    await guest(b, B);
    // A route through the gateway to B: VM-to-VM traffic the host would route back onto the bridge.
    await a.must('ip', ['route', 'add', `${B.ipv4}/32`, 'via', GW]);
    [hostServer] = await Promise.all([serve(h, `53,${PORT}`), serve(l, String(PORT)), serve(i, String(PORT)), serve(b, String(PORT))]);
  });

  afterAll(async () => {
    for (const d of dnsProcs) await d.close();
    for (const s of servers) {
      s.stdin?.end();
      if (s.exitCode === null) s.kill('SIGTERM');
    }
    await Promise.all([h, a, b, l, i].filter(Boolean).map((n) => n.destroy()));
  });

  it('control: with a plain masquerade and no fences, every probe below is answered', async () => {
    await h.must('nft', ['-f', '-'], `table ip plain {\n chain p {\n type nat hook postrouting priority srcnat; policy accept;\n ip saddr ${CIDR} oifname != "${BR}" masquerade\n }\n}\n`);
    const r = await probe(a, u(INTERNET), ...Object.values(LAN).map((x) => u(x)), u(GW), u('10.77.0.1'), t(GW), u(B.ipv4), t(B.ipv4));
    await h.must('nft', ['delete', 'table', 'ip', 'plain']);
    expect(r).toEqual({
      [u(INTERNET)]: '198.51.100.1',
      [u(LAN.rfc1918)]: '10.77.0.1',
      [u(LAN.rfc1918b)]: '192.168.77.1',
      [u(LAN.cgnat)]: '100.64.7.1',
      [u(LAN.linkLocal)]: '169.254.169.1',
      [u(GW)]: A.ipv4,
      [u('10.77.0.1')]: A.ipv4,
      [t(GW)]: A.ipv4,
      [u(B.ipv4)]: A.ipv4,
      [t(B.ipv4)]: A.ipv4,
    });
    expect(await framesSeen(a, [[A.mac, 'ipv6', 'ctl-v6'], ['02:bb:00:00:06:99', 'ip', 'ctl-mac', A.ipv4], [A.mac, 'arp', 'ctl-arp-gw', GW]])).toEqual(['ctl-arp-gw', 'ctl-mac', 'ctl-v6']);
    // Unfenced, A's ARP claiming the gateway can take over B's entry for it: start the fenced tests clean.
    await b.must('ip', ['neigh', 'flush', 'all']);
    await h.must('ip', ['neigh', 'flush', 'all']);
  });

  it('a tap that is not fenced passes nothing, not even DNS', async () => {
    nat = new NatAdapter(run, { tapPrefix: 'bgrtap' });
    await nat.apply({ bridge: BR, cidr: CIDR });
    expect(await probe(a, u(GW, 53), u(INTERNET))).toEqual({ [u(GW, 53)]: 'timeout', [u(INTERNET)]: 'timeout' });
  });

  it('allow: the internet (NAT) and DNS on the gateway; not the LAN, CGNAT, link-local, other host ports or other VMs', async () => {
    expect(await nat.fence(A)).toEqual({ changed: true });
    expect(await nat.fence(A)).toEqual({ changed: false });
    await nat.fence(B);
    const r = await probe(a, u(INTERNET), t(INTERNET), u(GW, 53), t(GW, 53), ...Object.values(LAN).map((x) => u(x)), t(LAN.rfc1918), u(GW), t(GW), u('10.77.0.1'), t('10.77.0.1'), u(B.ipv4), t(B.ipv4));
    expect(r).toEqual({
      [u(INTERNET)]: '198.51.100.1',
      [t(INTERNET)]: '198.51.100.1',
      [u(GW, 53)]: A.ipv4,
      [t(GW, 53)]: A.ipv4,
      [u(LAN.rfc1918)]: 'timeout',
      [u(LAN.rfc1918b)]: 'timeout',
      [u(LAN.cgnat)]: 'timeout',
      [u(LAN.linkLocal)]: 'timeout',
      [t(LAN.rfc1918)]: 'timeout',
      [u(GW)]: 'timeout',
      [t(GW)]: 'timeout',
      [u('10.77.0.1')]: 'timeout',
      [t('10.77.0.1')]: 'timeout',
      [u(B.ipv4)]: 'timeout',
      [t(B.ipv4)]: 'timeout',
    });
    expect(await probe(b, u(A.ipv4), u(INTERNET))).toEqual({ [u(A.ipv4)]: 'timeout', [u(INTERNET)]: '198.51.100.1' });
  });

  it('anti-spoofing: another source MAC or IP, ARP claiming the gateway or another guest, IPv6 and other ethertypes are dropped', async () => {
    const seen = await framesSeen(a, [
      [A.mac, 'ip', 'ok-ip', A.ipv4],
      [A.mac, 'arp', 'ok-arp', A.ipv4],
      ['02:bb:00:00:06:99', 'ip', 'bad-mac', A.ipv4],
      [B.mac, 'ip', 'mac-of-b', A.ipv4],
      [A.mac, 'ip', 'bad-ip', '172.30.6.99'],
      [A.mac, 'ip', 'ip-of-b', B.ipv4],
      [A.mac, 'arp', 'arp-gw', GW],
      [A.mac, 'arp', 'arp-b', B.ipv4],
      [A.mac, 'ipv6', 'v6'],
      [A.mac, 'other', 'etype'],
    ]);
    expect(seen).toEqual(['ok-arp', 'ok-ip']);
    // A spoofed source address through the normal stack gets no further than the raw frames did.
    await a.must('ip', ['addr', 'add', '172.30.6.99/32', 'dev', 'eth0']);
    try {
      await a.must('ip', ['route', 'replace', 'default', 'via', GW, 'src', '172.30.6.99']);
      await a.must('ip', ['route', 'add', `${GW}/32`, 'dev', 'eth0', 'src', '172.30.6.99']);
      expect(await probe(a, u(GW, 53), u(INTERNET))).toEqual({ [u(GW, 53)]: 'timeout', [u(INTERNET)]: 'timeout' });
    } finally {
      await a.exec('ip', ['route', 'del', `${GW}/32`]);
      await a.must('ip', ['route', 'replace', 'default', 'via', GW]);
      await a.must('ip', ['addr', 'del', '172.30.6.99/32', 'dev', 'eth0']);
    }
  });

  it('deny: only DNS on the gateway; changing A leaves B\'s rules and traffic alone', async () => {
    const bChain = await h.must('nft', ['list', 'chain', 'inet', 'banger', 'vm_bgrtap91']);
    expect(await nat.fence({ ...A, egress: deny })).toEqual({ changed: true });
    expect(await probe(a, u(GW, 53), u(INTERNET), t(INTERNET))).toEqual({ [u(GW, 53)]: A.ipv4, [u(INTERNET)]: 'timeout', [t(INTERNET)]: 'timeout' });
    expect(await h.must('nft', ['list', 'chain', 'inet', 'banger', 'vm_bgrtap91'])).toBe(bChain);
    expect(await probe(b, u(INTERNET))).toEqual({ [u(INTERNET)]: '198.51.100.1' });
  });

  it('a CIDR list: exactly the listed networks, and a listed private network is reachable on purpose', async () => {
    await nat.fence({ ...A, egress: { mode: 'list', cidrs: [`${INTERNET}/32`, '10.77.0.0/24'], hostnames: [] } });
    const r = await probe(a, u(INTERNET), t(INTERNET_B), u(LAN.rfc1918), u(LAN.rfc1918b), u(LAN.linkLocal), u(GW, 53), u(GW), u(B.ipv4));
    expect(r).toEqual({
      [u(INTERNET)]: '198.51.100.1',
      [t(INTERNET_B)]: 'timeout',
      [u(LAN.rfc1918)]: '10.77.0.1',
      [u(LAN.rfc1918b)]: 'timeout',
      [u(LAN.linkLocal)]: 'timeout',
      [u(GW, 53)]: A.ipv4,
      [u(GW)]: 'timeout',
      [u(B.ipv4)]: 'timeout',
    });
  });

  it('one VM per IP: a second VM claiming A\'s address is refused and changes nothing', async () => {
    const before = await h.must('nft', ['list', 'ruleset']);
    await expect(nat.fence({ ...B, vmId: 'vm-c', tap: 'bgrtap92', ipv4: A.ipv4 })).rejects.toMatchObject({ kind: 'ALREADY_EXISTS', reason: 'IP_IN_USE', fields: { field: 'ipv4' } });
    expect(await h.must('nft', ['list', 'ruleset'])).toBe(before);
  });

  it('a hostname list: banger DNS forwards for guests only, opens what the name resolves to for the TTL, and follows a changed answer', async () => {
    // The "internet" runs the authoritative server for api.test (TTL 5 s); H runs banger's forwarder on the gateway.
    const upstream = new NetnsDnsProcess({ netns: i.name, zone: 'test' });
    dnsProcs.push(upstream);
    await upstream.listen(INTERNET, 53);
    await upstream.syncRecords([{ name: 'api', ipv4: INTERNET }]);
    hostServer?.stdin?.end();
    if (hostServer && hostServer.exitCode === null) await once(hostServer, 'exit');
    const fwd = new NetnsDnsProcess({ netns: h.name, zone: 'vm', forward: { upstream: { host: INTERNET, port: 53 }, clients: CIDR, ttlMin: 1, ttlMax: 3600 } });
    dnsProcs.push(fwd);
    await fwd.listen(GW, 53);
    await nat.fence({ ...A, egress: { mode: 'list', cidrs: [], hostnames: ['api.test'] } });
    await fwd.syncEgress([{ ip: A.ipv4, set: hostSetOf(A.tap), hostnames: ['api.test'] }]);

    expect(await probe(a, u(INTERNET))).toEqual({ [u(INTERNET)]: 'timeout' });
    expect((await dnsAsk(a, 'api.test')).answers?.map((x) => x.data)).toEqual([INTERNET]);
    expect(await probe(a, u(INTERNET), t(INTERNET_B))).toEqual({ [u(INTERNET)]: '198.51.100.1', [t(INTERNET_B)]: 'timeout' });
    expect(await h.must('nft', ['list', 'set', 'inet', 'banger', hostSetOf(A.tap)])).toMatch(/198\.51\.100\.2 timeout 5s/);
    // B resolves the same name (forwarded, it is a guest) but its policy names no hostname: nothing opens for it or for A.
    expect((await dnsAsk(b, 'api.test')).answers?.map((x) => x.data)).toEqual([INTERNET]);
    // Not an open resolver: a query from outside the guest network is refused.
    await l.must('ip', ['route', 'add', CIDR, 'via', '10.77.0.1']);
    expect((await dnsAsk(l, 'api.test')).rcode).toBe(5);

    await upstream.syncRecords([{ name: 'api', ipv4: INTERNET_B }]);
    expect((await dnsAsk(a, 'api.test')).answers?.map((x) => x.data)).toEqual([INTERNET_B]);
    // TCP towards the second address: a UDP reply would leave from I's primary address and miss conntrack.
    expect(await probe(a, t(INTERNET_B))).toEqual({ [t(INTERNET_B)]: '198.51.100.1' });
    await new Promise((r) => setTimeout(r, 5500));
    expect(await probe(a, t(INTERNET), t(INTERNET_B))).toEqual({ [t(INTERNET)]: 'timeout', [t(INTERNET_B)]: 'timeout' });
    expect((await dnsAsk(a, 'api.test')).answers?.map((x) => x.data)).toEqual([INTERNET_B]);
    expect(await probe(a, t(INTERNET), t(INTERNET_B))).toEqual({ [t(INTERNET)]: 'timeout', [t(INTERNET_B)]: '198.51.100.1' });
    await nat.fence({ ...A, egress: { mode: 'list', cidrs: [`${INTERNET}/32`], hostnames: [] } });
  });

  it('re-applying the tables keeps every fence; unfencing A stops its traffic and leaves B working', async () => {
    expect((await nat.apply({ bridge: BR, cidr: CIDR })).changed).toBe(false);
    expect(await probe(a, u(INTERNET), t(INTERNET_B))).toEqual({ [u(INTERNET)]: '198.51.100.1', [t(INTERNET_B)]: 'timeout' });
    expect(await nat.unfence(A.vmId)).toEqual({ removed: true });
    expect(await nat.unfence(A.vmId)).toEqual({ removed: false });
    expect(await probe(a, u(GW, 53), u(INTERNET))).toEqual({ [u(GW, 53)]: 'timeout', [u(INTERNET)]: 'timeout' });
    expect(await probe(b, u(INTERNET))).toEqual({ [u(INTERNET)]: '198.51.100.1' });
    expect((await dnsAsk(b, 'nobody.vm')).rcode).toBe(3);
    const listed = await h.must('nft', ['list', 'ruleset']);
    expect(listed).not.toMatch(/vm_bgrtap90|172\.30\.6\.10\b|02:bb:00:00:06:0a/);
  });
});
