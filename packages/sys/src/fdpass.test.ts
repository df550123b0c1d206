import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { notifySystemd, recvFds, recvFdsWhenReady, sdNotify, sendFds, socketFdOf } from './index.js';
import { leakedSince, openFds } from './test-support/fds.js';

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'banger-sys-fdpass-'));
  writeFileSync(join(dir, 'payload'), 'the right file\n');
  writeFileSync(join(dir, 'other'), 'another file\n');
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function readAllFd(fd: number): string {
  const buf = Buffer.alloc(256);
  return buf.subarray(0, readSync(fd, buf, 0, buf.length, 0)).toString();
}

function cloexec(fd: number): boolean {
  const flags = /flags:\s+(\d+)/.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))![1]!;
  return (Number.parseInt(flags, 8) & 0o2000000) !== 0;
}

describe('SCM_RIGHTS over a Unix stream socket', () => {
  let server: Server;
  let client: Socket;
  let accepted: Socket;
  let n = 0;

  beforeEach(async () => {
    const path = join(dir, `s${n++}.sock`);
    // pauseOnConnect: Node must not read the accepted end, or the descriptors are lost.
    server = createServer({ pauseOnConnect: true });
    const conn = new Promise<Socket>((resolve) => server.once('connection', resolve));
    await new Promise<void>((resolve) => server.listen(path, resolve));
    client = createConnection(path);
    await new Promise<void>((resolve) => client.once('connect', resolve));
    accepted = await conn;
  });

  afterEach(async () => {
    client.destroy();
    accepted.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('hands over a descriptor that reads the right file', async () => {
    const before = openFds();
    const file = openSync(join(dir, 'payload'), 'r');
    expect(sendFds(socketFdOf(client)!, Buffer.from('one'), [file])).toBe(3);
    closeSync(file);
    const got = await recvFdsWhenReady(socketFdOf(accepted)!, 64, 4);
    expect(got.data.toString()).toBe('one');
    expect(got.fds).toHaveLength(1);
    const fd = got.fds[0]!;
    expect(cloexec(fd)).toBe(true);
    expect(readAllFd(fd)).toBe('the right file\n');
    closeSync(fd);
    expect(leakedSince(before)).toEqual([]);
  });

  it('carries several descriptors in order', async () => {
    const a = openSync(join(dir, 'payload'), 'r');
    const b = openSync(join(dir, 'other'), 'r');
    sendFds(socketFdOf(client)!, Buffer.from('two'), [b, a]);
    closeSync(a);
    closeSync(b);
    const got = await recvFdsWhenReady(socketFdOf(accepted)!, 64, 4);
    expect(got.fds.map(readAllFd)).toEqual(['another file\n', 'the right file\n']);
    got.fds.forEach((fd) => closeSync(fd));
  });

  it('refuses a message with more descriptors than asked for, closing what arrived', async () => {
    const before = openFds();
    const fds = [0, 1, 2].map(() => openSync(join(dir, 'payload'), 'r'));
    sendFds(socketFdOf(client)!, Buffer.from('x'), fds);
    fds.forEach((fd) => closeSync(fd));
    await expect(recvFdsWhenReady(socketFdOf(accepted)!, 64, 2)).rejects.toMatchObject({ reason: 'MESSAGE_TOO_LARGE', errnoCode: 'EMSGSIZE' });
    expect(leakedSince(before)).toEqual([]);
  });

  it('never blocks: no message yet is WOULD_BLOCK (EAGAIN); a closed peer is empty data', async () => {
    expect(() => recvFds(socketFdOf(accepted)!, 64, 1)).toThrow(expect.objectContaining({ reason: 'WOULD_BLOCK', errnoCode: 'EAGAIN', code: 'UNAVAILABLE' }));
    const t0 = Date.now();
    await expect(recvFdsWhenReady(socketFdOf(accepted)!, 64, 1, { timeoutMs: 100 })).rejects.toMatchObject({ errnoCode: 'EAGAIN' });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(90);
    client.end();
    const got = await recvFdsWhenReady(socketFdOf(accepted)!, 64, 1);
    expect(got).toEqual({ data: Buffer.alloc(0), fds: [] });
  });

  it('refuses bad arguments before any syscall', () => {
    expect(() => sendFds(socketFdOf(client)!, Buffer.alloc(0), [])).toThrow(RangeError);
    expect(() => sendFds(socketFdOf(client)!, Buffer.from('x'), new Array<number>(254).fill(0))).toThrow(RangeError);
    expect(() => recvFds(socketFdOf(accepted)!, 0, 1)).toThrow(RangeError);
    const file = openSync(join(dir, 'payload'), 'r');
    expect(() => sendFds(file, Buffer.from('x'), [])).toThrow(expect.objectContaining({ reason: 'NOT_A_SOCKET' }));
    closeSync(file);
  });
});

/** A datagram socket bound by python3, printing what it receives as hex. */
async function bindDatagram(address: string): Promise<{ received: Promise<string>; pid: number }> {
  const code = [
    'import socket,sys',
    's=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM)',
    'a=sys.argv[1]',
    "s.bind('\\0'+a[1:] if a.startswith('@') else a)",
    "print('ready',flush=True)",
    "print(s.recv(4096).hex(),flush=True)",
  ].join('\n');
  const child = spawn('/usr/bin/python3', ['-c', code, address], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const first = await lines.next();
  expect(first.value).toBe('ready');
  const received = lines.next().then((r) => Buffer.from(String(r.value), 'hex').toString());
  return { received, pid: child.pid! };
}

describe('sdNotify', () => {
  it('sends one datagram to a socket path', async () => {
    const path = join(dir, 'notify.sock');
    const sock = await bindDatagram(path);
    sdNotify(path, 'READY=1\nSTATUS=serving');
    expect(await sock.received).toBe('READY=1\nSTATUS=serving');
  });

  it('sends to an abstract socket named with a leading @', async () => {
    const name = `@banger-sys-test-${process.pid}`;
    const sock = await bindDatagram(name);
    expect(notifySystemd('READY=1', { NOTIFY_SOCKET: name })).toBe(true);
    expect(await sock.received).toBe('READY=1');
  });

  it('does nothing without NOTIFY_SOCKET and refuses what it cannot address', () => {
    expect(notifySystemd('READY=1', {})).toBe(false);
    expect(() => notifySystemd('READY=1', { NOTIFY_SOCKET: 'vsock:2:1234' })).toThrow(expect.objectContaining({ reason: 'UNSUPPORTED_NOTIFY_SOCKET' }));
    expect(() => sdNotify(join(dir, 'nobody.sock'), 'READY=1')).toThrow(expect.objectContaining({ reason: 'PATH_NOT_FOUND', errnoCode: 'ENOENT' }));
    writeFileSync(join(dir, 'plain'), '');
    expect(() => sdNotify(join(dir, 'plain'), 'READY=1')).toThrow(expect.objectContaining({ errnoCode: 'ECONNREFUSED' }));
  });
});
