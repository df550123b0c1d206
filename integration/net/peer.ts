/**
 * Small network peer started inside a test namespace (`ip netns exec NS node --import tsx peer.ts ...`):
 *   udp-serve PORT          answers every datagram with the source address it saw (one line "ready" first)
 *   udp-ask HOST PORT       sends one datagram, prints the reply or "timeout"
 *   dns-ask HOST PORT NAME  prints the decoded DNS response as JSON
 *   serve PORT[,PORT...]    udp-serve on each port, plus TCP: each connection gets the source address, then close
 *   probe TARGET...         tries every "udp:HOST:PORT" / "tcp:HOST:PORT" at once; prints {target: reply|"timeout"|"refused"}
 */
import { createSocket } from 'node:dgram';
import { connect, createServer } from 'node:net';
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
} else if (mode === 'serve') {
  const ports = (a ?? '').split(',').map(Number);
  let pending = ports.length * 2;
  const up = () => {
    if (--pending === 0) process.stdout.write('ready\n');
  };
  for (const port of ports) {
    const u = createSocket('udp4');
    u.on('message', (_m, r) => u.send(r.address, r.port, r.address));
    u.bind(port, '0.0.0.0', up);
    createServer((c) => c.end(c.remoteAddress?.replace(/^::ffff:/, '') ?? '')).listen(port, '0.0.0.0', up);
  }
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
} else if (mode === 'probe') {
  const one = (t: string): Promise<string> =>
    new Promise((resolve) => {
      const [proto, host = '', port = '0'] = t.split(':');
      const timer = setTimeout(() => resolve('timeout'), 1500);
      const done = (v: string) => {
        clearTimeout(timer);
        resolve(v);
      };
      if (proto === 'udp') {
        const s = createSocket('udp4');
        s.on('message', (m) => {
          done(m.toString());
          s.close();
        });
        s.on('error', () => done('refused'));
        s.send('hi', Number(port), host);
      } else {
        let got = '';
        const c = connect({ host, port: Number(port) });
        c.on('data', (d) => (got += d.toString()));
        c.on('end', () => done(got));
        c.on('error', (e: NodeJS.ErrnoException) => done(e.code === 'ECONNREFUSED' ? 'refused' : `error ${e.code ?? ''}`));
      }
    });
  const targets = process.argv.slice(3);
  void Promise.all(targets.map(one)).then((r) => {
    process.stdout.write(`${JSON.stringify(Object.fromEntries(targets.map((t, i) => [t, r[i]])))}\n`);
    process.exit(0);
  });
} else {
  process.stderr.write('usage: peer.ts udp-serve|udp-ask|dns-ask ...\n');
  process.exit(2);
}
