import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BridgeAdapter, DnsServer, NetRunner, queryDns } from '../../services/privhelper/src/adapters/net/index.js';
import { QTYPE, RCODE } from '../../services/privhelper/src/domain/network/dnsWire.js';
import { Netns, netnsUnavailableReason } from '../harness/netns.js';

const DNS_MAIN = fileURLToPath(new URL('../../services/privhelper/src/adapters/net/dnsMain.ts', import.meta.url));
const PEER = fileURLToPath(new URL('./peer.ts', import.meta.url));

describe('DNS responder on host loopback (ephemeral port)', () => {
  const dns = new DnsServer({ ttl: 7 });
  let port = 0;
  beforeAll(async () => {
    port = (await dns.listen('127.0.0.1', 0)).port;
  });
  afterAll(() => dns.close());

  it('answers A for a synced record and NXDOMAIN for an unknown name', async () => {
    expect(dns.syncRecords([{ name: 'web', ipv4: '172.30.0.9' }, { name: 'db', ipv4: '172.30.0.10' }])).toEqual({ recordCount: 2, added: 2, removed: 0 });
    const r = await queryDns('127.0.0.1', port, 'web.vm', QTYPE.A);
    expect(r.rcode).toBe(RCODE.NOERROR);
    expect(r.aa).toBe(true);
    expect(r.answers).toEqual([{ type: QTYPE.A, ttl: 7, data: '172.30.0.9' }]);
    const nx = await queryDns('127.0.0.1', port, 'nope.vm', QTYPE.A);
    expect(nx.rcode).toBe(RCODE.NXDOMAIN);
    expect(nx.authorityCount).toBe(1);
    expect((await queryDns('127.0.0.1', port, 'example.com', QTYPE.A)).rcode).toBe(RCODE.REFUSED);
  });

  it('sync replaces the set: removed names go NXDOMAIN, changed ones answer the new address', async () => {
    expect(dns.syncRecords([{ name: 'web', ipv4: '172.30.0.99' }])).toEqual({ recordCount: 1, added: 1, removed: 2 });
    expect((await queryDns('127.0.0.1', port, 'web.vm', QTYPE.A)).answers[0]?.data).toBe('172.30.0.99');
    expect((await queryDns('127.0.0.1', port, 'db.vm', QTYPE.A)).rcode).toBe(RCODE.NXDOMAIN);
  });

  it('a bad record set is refused and the old set stays', async () => {
    expect(() => dns.syncRecords([{ name: 'ok', ipv4: '1.2.3.4' }, { name: 'UPPER', ipv4: '1.2.3.4' }])).toThrow(expect.objectContaining({ kind: 'INVALID_ARGUMENT', fields: { field: 'records[1].name' } }));
    expect((await queryDns('127.0.0.1', port, 'web.vm', QTYPE.A)).answers[0]?.data).toBe('172.30.0.99');
  });

  it('maps bind errors to typed errors', async () => {
    const other = new DnsServer();
    await expect(other.listen('127.0.0.1', port)).rejects.toMatchObject({ kind: 'UNAVAILABLE', reason: 'DNS_ADDRESS_IN_USE' });
    await expect(other.listen('192.0.2.77', 0)).rejects.toMatchObject({ kind: 'FAILED_PRECONDITION', reason: 'DNS_ADDRESS_NOT_LOCAL' });
    await expect(other.listen('localhost', 0)).rejects.toMatchObject({ kind: 'INVALID_ARGUMENT' });
  });
});

const skip = netnsUnavailableReason();
if (skip) console.warn(`[integration/net] in-netns DNS test skipped: ${skip}`);

describe.skipIf(skip !== undefined)('DNS responder inside a netns, bound to the bridge gateway', () => {
  let ns: Netns;
  let child: ChildProcess | undefined;
  let lines: AsyncIterator<string>;

  beforeAll(async () => {
    ns = await Netns.create();
    await new BridgeAdapter(new NetRunner({ netns: ns.name })).ensure({ bridge: 'bgr-t2', gatewayCidr: '172.30.9.1/24' });
    const w = ns.wrap(process.execPath, ['--import', 'tsx', DNS_MAIN, '--listen', '172.30.9.1:53']);
    child = spawn(w.file, w.args, { stdio: ['pipe', 'pipe', 'inherit'] });
    lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  });
  afterAll(async () => {
    child?.stdin?.end();
    if (child?.pid !== undefined && child.exitCode === null) child.kill('SIGTERM');
    if (ns) await ns.destroy();
  });

  const next = async () => JSON.parse((await lines.next()).value as string) as Record<string, unknown>;

  it('serves synced records at 172.30.9.1:53 to clients in the namespace', async () => {
    expect(await next()).toEqual({ listening: { address: '172.30.9.1', port: 53 } });
    child?.stdin?.write(`${JSON.stringify({ records: [{ name: 'api', ipv4: '172.30.9.20' }] })}\n`);
    expect(await next()).toEqual({ ok: true, recordCount: 1, added: 1, removed: 0 });
    const ask = async (name: string) => JSON.parse(await ns.must(process.execPath, ['--import', 'tsx', PEER, 'dns-ask', '172.30.9.1', '53', name])) as { rcode: number; answers: { data: string }[] };
    const r = await ask('api.vm');
    expect(r.rcode).toBe(RCODE.NOERROR);
    expect(r.answers.map((a) => a.data)).toEqual(['172.30.9.20']);
    expect((await ask('missing.vm')).rcode).toBe(RCODE.NXDOMAIN);
    child?.stdin?.write(`${JSON.stringify({ records: [{ name: 'Bad_Name', ipv4: '1.2.3.4' }] })}\n`);
    expect(await next()).toMatchObject({ ok: false, kind: 'INVALID_ARGUMENT', reason: 'BAD_DNS_LABEL' });
  });
});
