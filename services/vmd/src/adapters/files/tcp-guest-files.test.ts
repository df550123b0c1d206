import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { GuestAgent, GuestExecOptions, GuestOutputChunk } from '../../ports/agent.js';
import type { GuestConnector } from '../../ports/guest-connect.js';
import { TcpGuestFiles } from './tcp-guest-files.js';

type Exit = Awaited<ReturnType<GuestAgent['execStream']>>;
const exit = (exitCode: number): Exit => ({ exitCode, signal: '', timedOut: false, stdoutTruncated: false, stderrTruncated: false });

/**
 * A stand-in guest: a loopback listener playing the copy script (token first, then the stream),
 * announced as the script's first stdout line, ending with the given status and stderr.
 */
class FakeGuest implements Pick<GuestAgent, 'execStream'> {
  server: Server | undefined;
  received = Buffer.alloc(0);
  token = '';
  reset = false;
  argv: string[] = [];
  opts: GuestExecOptions = {};
  constructor(private readonly end: (got: Buffer, reset: boolean) => { code: number; stdout?: string; stderr?: string }, private readonly sendBack?: Buffer) {}

  async execStream(_socket: string, argv: string[], onChunk: (c: GuestOutputChunk) => Promise<void>, opts: GuestExecOptions): Promise<Exit> {
    this.argv = argv;
    this.opts = opts;
    const tokenLen = 48;
    let sock: Socket | undefined;
    let closed!: Promise<void>;
    this.server = createServer((s) => {
      sock = s;
      closed = new Promise<void>((resolve) => {
        s.on('data', (c: Buffer) => (this.received = Buffer.concat([this.received, c])));
        s.on('error', () => (this.reset = true));
        s.on('close', () => resolve());
      });
    });
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    await onChunk({ stream: 'stdout', data: Buffer.from(`${(this.server.address() as AddressInfo).port}\n`) });
    await once(this.server, 'connection');
    const s = sock as unknown as Socket;
    if (this.sendBack) s.end(this.sendBack);
    await closed;
    this.token = this.received.subarray(0, tokenLen).toString();
    const r = this.end(this.received.subarray(tokenLen), this.reset);
    if (r.stdout) await onChunk({ stream: 'stdout', data: Buffer.from(r.stdout) });
    if (r.stderr) await onChunk({ stream: 'stderr', data: Buffer.from(r.stderr) });
    this.server.close();
    return exit(r.code);
  }
}

const loopback: GuestConnector = {
  async connect(_vmId, port) {
    const s = connect(port, '127.0.0.1');
    await once(s, 'connect');
    return s;
  },
};

const vm = { id: 'v1', agentSocket: '/x' };
const opts = () => ({ opId: 'op-1', timeoutMs: 10_000, signal: new AbortController().signal });
async function* chunks(...parts: (Buffer | Error)[]): AsyncGenerator<Buffer> {
  for (const p of parts) {
    if (p instanceof Error) throw p;
    yield p;
  }
}

let guest: FakeGuest | undefined;
afterEach(() => guest?.server?.close());

describe('TcpGuestFiles', () => {
  it('sends the token, then the stream, and answers where the files landed', async () => {
    guest = new FakeGuest((got) => ({ code: 0, stdout: `/root/${got.toString()}\n` }));
    const files = new TcpGuestFiles({ agent: guest, connector: loopback });
    const res = await files.upload(vm, { destPath: '/root', mustBeDir: false, name: 'x' }, chunks(Buffer.from('ab'), Buffer.from('cd')), opts());
    expect(res.guestPath).toBe('/root/abcd');
    expect(guest.token).toMatch(/^[0-9a-f]{48}$/);
    // The script gets the values as positional parameters, never inside its text.
    expect(guest.argv.slice(0, 4)).toEqual(['/bin/sh', '-c', expect.stringContaining('set -u') as string, 'banger-cp']);
    expect(guest.argv.slice(4, 7)).toEqual(['/root', '0', 'x']);
    // The guest tar takes the VM's agent per poll, so other execs to the VM are not held up by the copy.
    expect(guest.opts).toMatchObject({ shareAgent: true, maxPollMs: 2000 });
  });

  it('resets the connection when the source fails, so the guest tar cannot take a cut archive as complete', async () => {
    guest = new FakeGuest((_got, reset) => ({ code: reset ? 68 : 0, stdout: reset ? '' : '/root/x\n', stderr: reset ? 'tar: Unexpected EOF' : '' }));
    const files = new TcpGuestFiles({ agent: guest, connector: loopback });
    const err = await files.upload(vm, { destPath: '/root', mustBeDir: false, name: 'x' }, chunks(Buffer.from('ab'), new Error('entry escapes')), opts()).catch((e: unknown) => e);
    expect(err).toMatchObject({ message: 'entry escapes' });
    expect(guest.reset).toBe(true);
  });

  it.each([
    [65, 'banger-cp: /etc/hostname: not a directory', 'GUEST_NOT_A_DIRECTORY'],
    [66, 'banger-cp: /no: no such directory', 'GUEST_PATH_NOT_FOUND'],
    [68, 'tar: big: Cannot write: No space left on device', 'GUEST_NO_SPACE'],
    [68, 'tar: big: Wrote only 4096 of 10240 bytes', 'GUEST_NO_SPACE'],
    [68, 'tar: something else', 'GUEST_COPY_FAILED'],
  ])('maps the script ending %i (%s) to %s, naming the path', async (code, stderr, reason) => {
    guest = new FakeGuest(() => ({ code, stderr }));
    const files = new TcpGuestFiles({ agent: guest, connector: loopback });
    const err = await files.upload(vm, { destPath: '/dest', mustBeDir: false, name: 'x' }, chunks(Buffer.from('a')), opts()).catch((e: unknown) => e);
    expect(err).toMatchObject({ reason, fields: { path: '/dest' } });
  });

  it('streams a download into the sink and fails when the guest tar did', async () => {
    guest = new FakeGuest(() => ({ code: 0 }), Buffer.from('tarbytes'));
    const files = new TcpGuestFiles({ agent: guest, connector: loopback });
    const got: Buffer[] = [];
    await files.download(vm, '/etc', async (c) => void got.push(c), opts());
    expect(Buffer.concat(got).toString()).toBe('tarbytes');
    guest = new FakeGuest(() => ({ code: 2, stderr: 'tar: /etc/shadow: Cannot open: Permission denied' }), Buffer.from('part'));
    const failing = new TcpGuestFiles({ agent: guest, connector: loopback });
    await expect(failing.download(vm, '/etc', async () => undefined, opts())).rejects.toMatchObject({ reason: 'GUEST_COPY_FAILED' });
  });
});
