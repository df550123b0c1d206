import { spawn } from 'node:child_process';
import { chmodSync, closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PeerCredError, peerCredAvailable, peerCredOf, peerCredOfFd } from './index.js';
import type { PeerCred } from './index.js';

const NOBODY_UID = 65534;
const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('peercred: skipping the other-uid test: it needs root to runuser as nobody');

let dir: string;
let sockPath: string;
let server: Server;
let nextPeer: { resolve: (cred: PeerCred) => void; reject: (err: unknown) => void } | undefined;

function serverSeesNextPeer(): Promise<PeerCred> {
  return new Promise((resolve, reject) => {
    nextPeer = { resolve, reject };
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'banger-peercred-'));
  sockPath = join(dir, 's.sock');
  server = createServer((conn) => {
    try {
      nextPeer?.resolve(peerCredOf(conn));
    } catch (err) {
      nextPeer?.reject(err);
    }
    conn.end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(sockPath, resolve);
  });
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

function connect(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createConnection(sockPath, () => resolve(s));
    s.once('error', reject);
  });
}

describe('peercred', () => {
  it('has its native addon built (else: npm run build:native)', () => {
    expect(peerCredAvailable()).toBe(true);
  });

  it('reports this process as the peer of a same-process connection', async () => {
    const seen = serverSeesNextPeer();
    const client = await connect();
    const fromServer = await seen;
    const fromClient = peerCredOf(client);
    client.destroy();
    const me = { pid: process.pid, uid: process.getuid?.(), gid: process.getgid?.() };
    expect(fromServer).toEqual(me);
    expect(fromClient).toEqual(me);
  });

  it.skipIf(!isRoot)('reports the uid of a client running as nobody', async () => {
    chmodSync(dir, 0o711);
    chmodSync(sockPath, 0o666);
    const clientCode =
      'const s=require("net").createConnection(process.argv[1],()=>{' +
      'console.log(JSON.stringify({pid:process.pid,uid:process.getuid(),gid:process.getgid()}));s.end()});' +
      's.on("error",e=>{console.error(e.code);process.exit(2)})';
    const seen = serverSeesNextPeer();
    const child = spawn('runuser', ['-u', 'nobody', '--', process.execPath, '-e', clientCode, sockPath], {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect({ code, err }).toEqual({ code: 0, err: '' });
    const fromServer = await seen;
    const childSays = JSON.parse(out) as PeerCred;
    expect(childSays.uid).toBe(NOBODY_UID);
    expect(fromServer).toEqual(childSays);
    expect(fromServer.pid).not.toBe(process.pid);
  });

  it('throws ENOTSOCK for a descriptor that is not a socket', () => {
    const fd = openSync(join(dir, 'plain'), 'w');
    try {
      expect(() => peerCredOfFd(fd)).toThrow(
        expect.objectContaining({ code: 'ENOTSOCK', reason: 'PEERCRED_GETSOCKOPT_FAILED', kind: 'INVALID_ARGUMENT' }),
      );
    } finally {
      closeSync(fd);
    }
  });

  it('throws EBADF for a closed descriptor', () => {
    const fd = openSync(join(dir, 'closed'), 'w');
    closeSync(fd);
    expect(() => peerCredOfFd(fd)).toThrow(expect.objectContaining({ code: 'EBADF' }));
  });

  it('refuses a non-Unix socket instead of returning placeholder ids', async () => {
    const tcp = createServer();
    await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve));
    try {
      const fd = (tcp as unknown as { _handle: { fd: number } })._handle.fd;
      expect(() => peerCredOfFd(fd)).toThrow(expect.objectContaining({ code: 'EAFNOSUPPORT' }));
    } finally {
      await new Promise<void>((resolve) => tcp.close(() => resolve()));
    }
  });

  it('throws PEERCRED_NO_FD for a destroyed socket', async () => {
    const client = await connect();
    client.destroy();
    expect(() => peerCredOf(client)).toThrow(PeerCredError);
    expect(() => peerCredOf(client)).toThrow(expect.objectContaining({ reason: 'PEERCRED_NO_FD' }));
  });
});
