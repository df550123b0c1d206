/**
 * Small network peer started inside a test namespace (`ip netns exec NS node --import tsx peer.ts ...`):
 *   udp-serve PORT          answers every datagram with the source address it saw (one line "ready" first)
 *   udp-ask HOST PORT       sends one datagram, prints the reply or "timeout"
 *   dns-ask HOST PORT NAME  prints the decoded DNS response as JSON
 */
import { createSocket } from 'node:dgram';
import { queryDns } from '../../services/privhelper/src/adapters/net/dnsClient.js';
import { QTYPE } from '../../services/privhelper/src/domain/network/dnsWire.js';

const [mode, a, b, c] = process.argv.slice(2);

if (mode === 'udp-serve') {
  const s = createSocket('udp4');
  s.on('message', (_m, r) => s.send(r.address, r.port, r.address));
  s.bind(Number(a), '0.0.0.0', () => process.stdout.write('ready\n'));
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
} else if (mode === 'udp-ask') {
  const s = createSocket('udp4');
  const t = setTimeout(() => {
    process.stdout.write('timeout\n');
    process.exit(0);
  }, 1500);
  s.on('message', (m) => {
    clearTimeout(t);
    process.stdout.write(`${m.toString()}\n`);
    process.exit(0);
  });
  s.send('hi', Number(b), a ?? '');
} else if (mode === 'dns-ask') {
  queryDns(a ?? '', Number(b), c ?? '', QTYPE.A).then(
    (r) => process.stdout.write(`${JSON.stringify(r)}\n`),
    (e: unknown) => process.stdout.write(`${JSON.stringify({ error: String(e) })}\n`),
  );
} else {
  process.stderr.write('usage: peer.ts udp-serve|udp-ask|dns-ask ...\n');
  process.exit(2);
}
