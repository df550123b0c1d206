import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer, Socket, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tcpConnectInNetns } from './index.js';
import { leakedSince, openFds } from './test-support/fds.js';

const isRoot = process.getuid?.() === 0;

/** Reads what the peer sends until it closes, through a Node socket wrapping the descriptor. */
async function readAll(fd: number, send: string): Promise<string> {
  const s = new Socket({ fd, readable: true, writable: true });
  const chunks: Buffer[] = [];
  s.on('data', (c: Buffer) => chunks.push(c));
  s.end(send);
  await once(s, 'close');
  return Buffer.concat(chunks).toString();
}

describe('tcpConnectInNetns in the caller\'s own namespace', () => {
  let server: Server;
  let port: number;
  beforeAll(async () => {
    server = createServer((c) => {
      c.write('banner\n');
      c.on('data', (d: Buffer) => c.end(`echo ${d.toString()}`));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as { port: number }).port;
  });
  afterAll(() => server.close());

  it('connects without reading: the first bytes the peer sends are still there for the owner', async () => {
    const fd = await tcpConnectInNetns('', '127.0.0.1', port, 2000);
    // A moment for the banner to arrive in the socket buffer before anyone reads.
    await new Promise((r) => setTimeout(r, 50));
    expect(await readAll(fd, 'hi')).toBe('banner\necho hi');
  });

  it('a refused port rejects with ECONNREFUSED and leaks no descriptor', async () => {
    const before = openFds();
    const closed = createServer();
    closed.listen(0, '127.0.0.1');
    await once(closed, 'listening');
    const free = (closed.address() as { port: number }).port;
    closed.close();
    await expect(tcpConnectInNetns('', '127.0.0.1', free, 2000)).rejects.toMatchObject({ errnoCode: 'ECONNREFUSED' });
    expect(leakedSince(before)).toEqual([]);
  });

  it('refuses a bad address or port before creating anything', async () => {
    await expect(tcpConnectInNetns('', 'not-an-ip', 22, 100)).rejects.toThrow(/dotted quad/);
    await expect(tcpConnectInNetns('', '127.0.0.1', 0, 100)).rejects.toThrow(/1-65535/);
  });
});

describe.runIf(isRoot)('tcpConnectInNetns into another namespace (root)', () => {
  const ns = `banger-sys-t${process.pid}`;
  let listener: ChildProcess;
  beforeAll(async () => {
    execFileSync('ip', ['netns', 'add', ns]);
    execFileSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    // A listener that exists only inside the namespace: reachable from here only through it.
    listener = spawn('ip', ['netns', 'exec', ns, 'python3', '-c', "import socket\ns=socket.socket()\ns.bind(('127.0.0.1',7777))\ns.listen()\nprint('up',flush=True)\nc,_=s.accept()\nc.sendall(b'inside:'+c.recv(16))\nc.close()"], { stdio: ['ignore', 'pipe', 'inherit'] });
    await once(listener.stdout!, 'data');
  });
  afterAll(() => {
    listener.kill();
    execFileSync('ip', ['netns', 'del', ns]);
  });

  it('reaches a listener only that namespace has, and this thread stays in its own namespace', async () => {
    const before = execFileSync('readlink', ['/proc/thread-self/ns/net']).toString();
    const fd = await tcpConnectInNetns(`/run/netns/${ns}`, '127.0.0.1', 7777, 2000);
    expect(await readAll(fd, 'ping')).toBe('inside:ping');
    expect(execFileSync('readlink', [`/proc/${process.pid}/task/${process.pid}/ns/net`]).toString()).toBe(before);
  });

  it('a path that is not a network namespace is refused', async () => {
    await expect(tcpConnectInNetns('/etc/hostname', '127.0.0.1', 7777, 100)).rejects.toMatchObject({ errnoCode: 'EINVAL' });
  });
});
