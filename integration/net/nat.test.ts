import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BridgeAdapter, NatAdapter, NetRunner } from '../../services/privhelper/src/adapters/net/index.js';
import { Netns, netnsUnavailableReason } from '../harness/netns.js';

const skip = netnsUnavailableReason();
if (skip) console.warn(`[integration/net] NAT tests skipped: ${skip}`);

const PEER = fileURLToPath(new URL('./peer.ts', import.meta.url));
const BR = 'bgr-t1';
const CIDR = '172.30.5.0/24';
const GUEST = { vmId: 'vm-g', tap: 'bgrtap80', ipv4: '172.30.5.9', mac: '02:bb:00:00:05:09', egress: { mode: 'allow' as const, cidrs: [], hostnames: [] } };

interface NftItem {
  table?: { family: string; name: string };
  rule?: { table: string; chain: string; expr: Record<string, unknown>[] };
}

function masqueradesCidr(items: NftItem[]): boolean {
  return items.some((i) => {
    const expr = i.rule?.expr ?? [];
    const hasMasq = expr.some((e) => 'masquerade' in e);
    const src = JSON.stringify(expr).includes('{"prefix":{"addr":"172.30.5.0","len":24}}');
    return i.rule?.table === 'banger' && hasMasq && src;
  });
}

/**
 * Three namespaces: G (a guest behind the bridge), H (banger's host side: bridge, NAT, uplink)
 * and O (the "internet" at TEST-NET-2, which has no route back to the guest network). A guest datagram
 * only gets an answer from O when H masquerades it.
 */
describe.skipIf(skip !== undefined)('NAT in banger\'s own nft table', () => {
  let g: Netns, h: Netns, o: Netns;
  let run: NetRunner;
  let server: ChildProcess | undefined;

  beforeAll(async () => {
    [g, h, o] = await Promise.all([Netns.create(), Netns.create(), Netns.create()]);
    run = new NetRunner({ netns: h.name });
    await new BridgeAdapter(run).ensure({ bridge: BR, gatewayCidr: '172.30.5.1/24' });
    await h.must('ip', ['link', 'add', 'up0', 'type', 'veth', 'peer', 'name', 'out0', 'netns', o.name]);
    await h.must('ip', ['addr', 'add', '198.51.100.1/24', 'dev', 'up0']);
    await h.must('ip', ['link', 'set', 'up0', 'up']);
    await o.must('ip', ['addr', 'add', '198.51.100.2/24', 'dev', 'out0']);
    await o.must('ip', ['link', 'set', 'out0', 'up']);
    // Named like a pool tap, so the guest fences treat it as one (a fence is what lets it out).
    await h.must('ip', ['link', 'add', GUEST.tap, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', g.name]);
    await h.must('ip', ['link', 'set', GUEST.tap, 'master', BR, 'up']);
    await g.must('ip', ['link', 'set', 'eth0', 'address', GUEST.mac]);
    await g.must('ip', ['addr', 'add', '172.30.5.9/24', 'dev', 'eth0']);
    await g.must('ip', ['link', 'set', 'eth0', 'up']);
    await g.must('ip', ['route', 'add', 'default', 'via', '172.30.5.1']);
    await h.must('nft', ['-f', '-'], 'table ip keepme {\n chain c {\n type filter hook input priority 0; policy accept;\n }\n}\n');
    const w = o.wrap(process.execPath, ['--import', 'tsx', PEER, 'udp-serve', '7777']);
    server = spawn(w.file, w.args, { stdio: ['pipe', 'pipe', 'inherit'] });
    await once(server.stdout!, 'data');
  });

  afterAll(async () => {
    server?.stdin?.end();
    if (server?.pid !== undefined && server.exitCode === null) server.kill('SIGTERM');
    await Promise.all([g, h, o].filter(Boolean).map((n) => n.destroy()));
  });

  const ask = async () => (await g.must(process.execPath, ['--import', 'tsx', PEER, 'udp-ask', '198.51.100.2', '7777'])).trim();

  it('guest egress fails without NAT (O has no route back)', async () => {
    await run.sysctlInNetns('net.ipv4.ip_forward', '1');
    expect(await ask()).toBe('timeout');
  });

  it('applies the table: masquerade for the CIDR, egress works, and re-applying is unchanged', async () => {
    const nat = new NatAdapter(run, { manageIpForward: true });
    expect(await nat.apply({ bridge: BR, cidr: CIDR, egressInterface: 'up0' })).toEqual({ table: 'inet banger', changed: true });
    expect(await nat.apply({ bridge: BR, cidr: CIDR, egressInterface: 'up0' })).toEqual({ table: 'inet banger', changed: false });
    expect(await ask()).toBe('timeout');
    await nat.fence(GUEST);
    const listed = JSON.parse(await h.must('nft', ['-j', 'list', 'table', 'inet', 'banger'])) as { nftables: NftItem[] };
    expect(masqueradesCidr(listed.nftables)).toBe(true);
    expect(await ask()).toBe('198.51.100.1');
  });

  it('switching to "any uplink" replaces the table atomically and still works', async () => {
    const nat = new NatAdapter(run);
    expect((await nat.apply({ bridge: BR, cidr: CIDR })).changed).toBe(true);
    await nat.fence(GUEST);
    const tables = await h.must('nft', ['list', 'tables']);
    expect(tables.match(/table inet banger/g)?.length).toBe(1);
    expect(await ask()).toBe('198.51.100.1');
  });

  it('remove deletes only banger\'s table, idempotently', async () => {
    const nat = new NatAdapter(run);
    expect(await nat.remove()).toEqual({ removed: true });
    expect(await nat.remove()).toEqual({ removed: false });
    const tables = await h.must('nft', ['list', 'tables']);
    expect(tables).not.toContain('table inet banger');
    expect(tables).toContain('table ip keepme');
    expect(await ask()).toBe('timeout');
    expect((await h.exec('nft', ['list', 'table', 'inet', 'banger'])).code).not.toBe(0);
  });

  it('refuses bad input before touching nft', async () => {
    const nat = new NatAdapter(run);
    await expect(nat.apply({ bridge: BR, cidr: '172.30.5.1/24' })).rejects.toMatchObject({ kind: 'INVALID_ARGUMENT', reason: 'BAD_CIDR', fields: { field: 'cidr' } });
    await expect(nat.apply({ bridge: 'eth0', cidr: CIDR })).rejects.toMatchObject({ reason: 'BAD_NAME' });
    await expect(nat.apply({ bridge: BR, cidr: CIDR, egressInterface: 'x" accept; #' })).rejects.toMatchObject({ reason: 'BAD_NAME' });
    await expect(nat.apply({ bridge: BR, cidr: CIDR, egressInterface: BR })).rejects.toMatchObject({ reason: 'BAD_NAME' });
    expect((await h.must('nft', ['list', 'tables']))).not.toContain('banger');
  });

  it('on the host, ip_forward is refused unless explicitly allowed', async () => {
    const hostNat = new NatAdapter(new NetRunner({ tools: { nft: 'true' } }), { manageIpForward: true });
    await expect(hostNat.apply({ bridge: BR, cidr: CIDR })).rejects.toMatchObject({ kind: 'FAILED_PRECONDITION', reason: 'HOST_SYSCTL_REFUSED' });
  });
});
