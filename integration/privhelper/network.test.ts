import * as grpc from '@grpc/grpc-js';
import { helperv2 } from '@banger/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { RCODE } from '../../services/privhelper/src/domain/network/dnsWire.js';
import { HelperFixture, helperUnavailableReason, nftTables } from './setup.js';

const PEER = fileURLToPath(new URL('../net/peer.ts', import.meta.url));

const skip = await helperUnavailableReason();
if (skip) console.warn(`[skip] privhelper network verbs over gRPC: ${skip}`);

describe.skipIf(skip !== undefined)('privhelper daemon: network verbs over gRPC, inside a throwaway netns', () => {
  let f: HelperFixture;

  beforeAll(async () => {
    f = await HelperFixture.start();
  });
  afterAll(async () => {
    await f?.close();
  });

  it('EnsureBridge creates the configured bridge in the netns, then is idempotent', async () => {
    expect(await f.call('ensureBridge', { bridge: f.bridge, gatewayCidr: f.gatewayCidr, mtu: 0 })).toEqual({ bridge: f.bridge, created: true });
    expect(await f.call('ensureBridge', { bridge: '', gatewayCidr: '', mtu: 0 })).toEqual({ bridge: f.bridge, created: false });
    const addrs = JSON.parse(await f.ns.must('ip', ['-j', '-4', 'addr', 'show', 'dev', f.bridge])) as { flags: string[]; addr_info: { local: string; prefixlen: number }[] }[];
    expect(addrs[0]?.addr_info.map((a) => `${a.local}/${a.prefixlen}`)).toEqual([f.gatewayCidr]);
    expect(addrs[0]?.flags).toContain('UP');
  });

  it('refuses a bridge or gateway other than the configured one, naming the field, with the op id', async () => {
    const before = await f.ns.linkNames();
    const e1 = await f.refused('ensureBridge', { bridge: 'bgr-other', gatewayCidr: '', mtu: 0 });
    expect(e1).toMatchObject({ code: grpc.status.INVALID_ARGUMENT, reason: 'FOREIGN_BRIDGE', errorMetadata: { field: 'bridge' } });
    expect(e1.message).toMatch(/\(op-[a-z2-7]{12}\)$/);
    const e2 = await f.refused('ensureBridge', { bridge: f.bridge, gatewayCidr: '10.99.0.1/24', mtu: 0 });
    expect(e2).toMatchObject({ code: grpc.status.INVALID_ARGUMENT, reason: 'FOREIGN_GATEWAY', errorMetadata: { field: 'gateway_cidr' } });
    expect(e2.fieldViolations[0]?.field).toBe('gateway_cidr');
    const e3 = await f.refused('acquireTap', { vmId: 'vm-x', bridge: 'bgr-evil' });
    expect(e3).toMatchObject({ code: grpc.status.INVALID_ARGUMENT, reason: 'FOREIGN_BRIDGE', errorMetadata: { field: 'bridge' } });
    const e4 = await f.refused('applyNat', { bridge: '', cidr: '10.99.0.0/24', egressInterface: '' });
    expect(e4).toMatchObject({ code: grpc.status.INVALID_ARGUMENT, reason: 'FOREIGN_CIDR', errorMetadata: { field: 'cidr' } });
    const e5 = await f.refused('acquireTap', { vmId: 'Bad_Id', bridge: '' });
    expect(e5).toMatchObject({ code: grpc.status.INVALID_ARGUMENT, reason: 'BAD_VM_ID', errorMetadata: { field: 'vm_id' } });
    expect(await f.ns.linkNames()).toEqual(before);
  });

  it('AcquireTap: five VMs at once get five distinct taps on the bridge; a retry returns the same tap', async () => {
    const ids = ['vm-a', 'vm-b', 'vm-c', 'vm-d', 'vm-e'];
    const got = await Promise.all(ids.map((vmId) => f.call('acquireTap', { vmId, bridge: f.bridge })));
    const taps = got.map((g) => g.tap);
    expect(new Set(taps).size).toBe(5);
    for (const g of got) expect(g).toMatchObject({ tap: expect.stringMatching(/^bgrtap\d+$/), existing: false });
    const links = JSON.parse(await f.ns.must('ip', ['-j', '-d', 'link', 'show', 'master', f.bridge])) as { ifname: string; ifalias?: string }[];
    const onBridge = new Map(links.map((l) => [l.ifname, l.ifalias]));
    ids.forEach((id, i) => expect(onBridge.get(taps[i]!)).toBe(`vm:${id}`));

    const again = await Promise.all([f.call('acquireTap', { vmId: 'vm-c', bridge: '' }), f.call('acquireTap', { vmId: 'vm-c', bridge: f.bridge })]);
    for (const a of again) expect(a).toEqual({ tap: taps[2], existing: true });
  });

  it('ReleaseTap returns the tap (and is a no-op for a VM without one); the tap leaves the bridge', async () => {
    const held = await f.call('acquireTap', { vmId: 'vm-b', bridge: '' });
    expect(await f.call('releaseTap', { vmId: 'vm-b' })).toEqual({ tap: held.tap });
    expect(await f.call('releaseTap', { vmId: 'vm-b' })).toEqual({ tap: '' });
    expect(await f.call('releaseTap', { vmId: 'never-had-one' })).toEqual({ tap: '' });
    const onBridge = (JSON.parse(await f.ns.must('ip', ['-j', 'link', 'show', 'master', f.bridge])) as { ifname: string }[]).map((l) => l.ifname);
    expect(onBridge).not.toContain(held.tap);
    const next = await f.call('acquireTap', { vmId: 'vm-f', bridge: '' });
    expect(next.existing).toBe(false);
  });

  it('ApplyNat installs `inet banger` in the netns only; RemoveNat deletes it; both idempotent', async () => {
    expect(await nftTables(f.ns)).not.toContain('inet banger');
    expect(await f.call('applyNat', { bridge: f.bridge, cidr: f.cidr, egressInterface: '' })).toEqual({ table: 'inet banger', changed: true });
    expect(await nftTables(f.ns)).toContain('inet banger');
    expect(await f.call('applyNat', { bridge: '', cidr: '', egressInterface: '' })).toEqual({ table: 'inet banger', changed: false });
    const ruleset = await f.ns.must('nft', ['list', 'table', 'inet', 'banger']);
    expect(ruleset).toContain(f.cidr.replace('/24', ''));
    expect(ruleset).toContain(f.bridge);
    expect(await f.call('removeNat', {})).toEqual({ removed: true });
    expect(await nftTables(f.ns)).not.toContain('inet banger');
    expect(await f.call('removeNat', {})).toEqual({ removed: false });
  });

  it('SyncDnsRecords replaces the record set and counts additions and removals', async () => {
    expect(await f.call('syncDnsRecords', { records: [{ name: 'dev', ipv4: '10.213.0.7' }, { name: 'web', ipv4: '10.213.0.8' }] })).toEqual({ recordCount: 2, added: 2, removed: 0 });
    expect(await f.call('syncDnsRecords', { records: [{ name: 'dev', ipv4: '10.213.0.9' }] })).toEqual({ recordCount: 1, added: 1, removed: 2 });
    expect(await f.call('syncDnsRecords', { records: [{ name: 'dev', ipv4: '10.213.0.9' }] })).toEqual({ recordCount: 1, added: 0, removed: 0 });
    const bad = await f.refused('syncDnsRecords', { records: [{ name: 'ok', ipv4: '10.213.0.3' }, { name: 'NOT A LABEL', ipv4: '10.213.0.4' }] });
    expect(bad.code).toBe(grpc.status.INVALID_ARGUMENT);
    // A refused sync changes nothing.
    expect(await f.call('syncDnsRecords', { records: [{ name: 'dev', ipv4: '10.213.0.9' }] })).toEqual({ recordCount: 1, added: 0, removed: 0 });
  });

  it('answers NAME.vm inside the namespace at the bridge gateway, from a responder process run there', async () => {
    // EnsureBridge (first test) started the responder in the netns; the records are the last synced.
    const ask = async (name: string) =>
      JSON.parse(await f.ns.must(process.execPath, ['--import', 'tsx', PEER, 'dns-ask', '10.213.0.1', '53', name])) as { rcode: number; answers: { data: string }[] };
    const r = await ask('dev.vm');
    expect(r.rcode).toBe(RCODE.NOERROR);
    expect(r.answers.map((a) => a.data)).toEqual(['10.213.0.9']);
    expect((await ask('web.vm')).rcode).toBe(RCODE.NXDOMAIN);
  });

  it('FenceVm pins a VM\'s tap and applies its policy; bad input is refused naming the field and changes nothing; ReleaseTap unfences', async () => {
    const H = helperv2.EgressMode;
    const { tap } = await f.call('acquireTap', { vmId: 'vm-fx', bridge: '' });
    await f.call('applyNat', { bridge: '', cidr: '', egressInterface: '' });
    const ok = { vmId: 'vm-fx', ipv4: '10.213.0.20', mac: '02:bb:00:00:00:20', egress: { mode: H.EGRESS_MODE_LIST, cidrs: ['198.51.100.0/24'], hostnames: ['example.com'] } };
    expect(await f.call('fenceVm', ok)).toEqual({ tap, changed: true });
    expect(await f.call('fenceVm', ok)).toEqual({ tap, changed: false });
    const listed = await f.ns.must('nft', ['list', 'ruleset']);
    expect(listed).toContain(`"${tap}" . 02:bb:00:00:00:20`);
    expect(listed).toContain(`"${tap}" . 10.213.0.20`);
    expect(listed).toMatch(/10\.213\.0\.20 : jump vm_bgrtap\d+/);
    expect(listed).toContain('198.51.100.0/24');
    const cases: [object, string, string, number][] = [
      [{ ipv4: '10.99.0.20' }, 'IP_OUTSIDE_NETWORK', 'ipv4', grpc.status.INVALID_ARGUMENT],
      [{ ipv4: '10.213.0.1' }, 'BAD_GUEST_IP', 'ipv4', grpc.status.INVALID_ARGUMENT],
      [{ mac: '01:00:5e:00:00:01' }, 'BAD_MAC', 'mac', grpc.status.INVALID_ARGUMENT],
      [{ egress: { mode: H.EGRESS_MODE_LIST, cidrs: ['10.0.0.1/8'], hostnames: [] } }, 'BAD_CIDR', 'egress.cidrs[0]', grpc.status.INVALID_ARGUMENT],
      [{ egress: { mode: H.EGRESS_MODE_DENY, cidrs: [], hostnames: ['a.com'] } }, 'BAD_EGRESS_POLICY', 'egress.hostnames', grpc.status.INVALID_ARGUMENT],
      [{ egress: { mode: 9, cidrs: [], hostnames: [] } }, 'BAD_EGRESS_MODE', 'egress.mode', grpc.status.INVALID_ARGUMENT],
    ];
    for (const [over, reason, field, code] of cases) {
      const e = await f.refused('fenceVm', helperv2.FenceVmRequest.fromPartial({ ...ok, ...over }));
      expect(e, reason).toMatchObject({ code, reason, errorMetadata: { field } });
      expect(e.message).toMatch(/\(op-[a-z2-7]{12}\)$/);
    }
    expect(await f.refused('fenceVm', { ...ok, vmId: 'vm-none' })).toMatchObject({ code: grpc.status.FAILED_PRECONDITION, reason: 'TAP_NOT_ASSIGNED' });
    await f.call('acquireTap', { vmId: 'vm-fy', bridge: '' });
    expect(await f.refused('fenceVm', { ...ok, vmId: 'vm-fy' })).toMatchObject({ code: grpc.status.ALREADY_EXISTS, reason: 'IP_IN_USE', errorMetadata: { field: 'ipv4' } });
    expect(await f.ns.must('nft', ['list', 'ruleset'])).toBe(listed);
    await f.call('releaseTap', { vmId: 'vm-fx' });
    expect(await f.ns.must('nft', ['list', 'ruleset'])).not.toContain('10.213.0.20');
    await f.call('releaseTap', { vmId: 'vm-fy' });
  });

  it('a restarted helper keeps running VMs fenced: its first ApplyNat renders the fences the last helper saved', async () => {
    const { tap } = await f.call('acquireTap', { vmId: 'vm-fr', bridge: '' });
    await f.call('applyNat', { bridge: '', cidr: '', egressInterface: '' });
    const fence = { vmId: 'vm-fr', ipv4: '10.213.0.30', mac: '02:bb:00:00:00:30', egress: { mode: helperv2.EgressMode.EGRESS_MODE_DENY, cidrs: [], hostnames: [] } };
    expect(await f.call('fenceVm', fence)).toEqual({ tap, changed: true });
    expect((await f.restartDaemon()).exitCode).toBe(0);
    // What vmd's next create does first: re-apply NAT. The fence must survive it.
    await f.call('applyNat', { bridge: '', cidr: '', egressInterface: '' });
    const listed = await f.ns.must('nft', ['list', 'ruleset']);
    expect(listed).toContain(`"${tap}" . 02:bb:00:00:00:30`);
    expect(listed).toMatch(/10\.213\.0\.30 : jump vm_bgrtap\d+/);
    expect(await f.call('fenceVm', fence)).toEqual({ tap, changed: false });
    await f.call('releaseTap', { vmId: 'vm-fr' });
    expect(await f.ns.must('nft', ['list', 'ruleset'])).not.toContain('10.213.0.30');
  });

  it('each call above left exactly one helper rpc completed|failed line with its op id and duration_ms', async () => {
    expect(f.calls.length).toBeGreaterThan(20);
    expect(await f.completionProblems()).toEqual([]);
    const sample = f.completionLines().find((l) => l.op_id === f.calls[0]?.opId);
    expect(sample).toMatchObject({ msg: 'helper rpc completed', method: '/banger.helper.v2.HelperService/EnsureBridge', code: 'OK', service: 'privhelper' });
    expect(f.daemon.stray).toEqual([]);
    expect(f.alive()).toBe(true);
  });
});
