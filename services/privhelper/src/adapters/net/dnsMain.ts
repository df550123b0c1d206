/**
 * Runs the DNS responder as its own process, so it can live inside a network namespace
 * (`ip netns exec NS node --import tsx dnsMain.ts --listen ADDR:PORT`): Node cannot bind a
 * socket in another namespace from the helper's process. Protocol on stdio, one JSON per line:
 * stdout first `{"listening":{"address","port"}}`; stdin `{"records":[...]}` → stdout
 * `{"ok":true,"recordCount",...}` or `{"ok":false,"kind","reason","message"}`; stdin
 * `{"egress":[{ip,set,hostnames}]}` → `{"ok":true,"egressCount"}`. Exits when stdin closes.
 * With `--forward HOST:PORT --clients CIDR`, names outside the zone asked by those clients are
 * forwarded, and addresses learned for a VM's listed hostnames go into its nft set (this
 * process runs as root inside the namespace, where banger's table is).
 */
import { createInterface } from 'node:readline';
import { run } from '@banger/proc';
import { parseCidr } from '../../domain/network/cidr.js';
import { renderAllowedAddrs } from '../../domain/network/natRuleset.js';
import { DnsServer } from './dns.js';
import type { DnsForwardOptions, EgressEntry } from './dns.js';
import type { DnsRecord } from '../../domain/network/dnsRecords.js';
import { isNetError } from '../../domain/network/errors.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function reply(obj: unknown): void {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

async function main(): Promise<void> {
  const listen = arg('--listen') ?? '127.0.0.1:0';
  const colon = listen.lastIndexOf(':');
  const fwd = arg('--forward');
  const clients = arg('--clients');
  const forward: DnsForwardOptions | undefined =
    fwd === undefined || clients === undefined
      ? undefined
      : {
          upstream: { host: fwd.slice(0, fwd.lastIndexOf(':')), port: Number(fwd.slice(fwd.lastIndexOf(':') + 1)) },
          clients: parseCidr(clients, 'clients'),
          ttlMin: Number(arg('--ttl-min') ?? 30),
          ttlMax: Number(arg('--ttl-max') ?? 3600),
          learn: async (entry, addrs, ttl) => void (await run('nft', ['-f', '-'], { input: renderAllowedAddrs(entry.set, addrs, ttl), timeoutMs: 10_000 })),
        };
  const server = new DnsServer({ zone: arg('--zone') ?? 'vm', forward });
  const bound = await server.listen(listen.slice(0, colon), Number(listen.slice(colon + 1)));
  reply({ listening: bound });
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    try {
      const msg = JSON.parse(line) as { records?: unknown; egress?: unknown };
      if (msg.egress !== undefined) reply({ ok: true, egressCount: server.syncEgress(msg.egress as readonly EgressEntry[]) });
      else reply({ ok: true, ...server.syncRecords(msg.records as readonly DnsRecord[]) });
    } catch (err) {
      reply(isNetError(err) ? { ok: false, kind: err.kind, reason: err.reason, message: err.message } : { ok: false, kind: 'INVALID_ARGUMENT', reason: 'BAD_REQUEST', message: 'not JSON' });
    }
  });
  rl.on('close', () => void server.close().then(() => process.exit(0)));
}

main().catch((err: unknown) => {
  const e = isNetError(err) ? { kind: err.kind, reason: err.reason, message: err.message } : { kind: 'INTERNAL', reason: 'DNS_START_FAILED', message: String(err) };
  reply({ error: e });
  process.exit(1);
});
