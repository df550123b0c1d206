/**
 * The channels bench/files.ts times, each moving the same bytes into or out of one running
 * guest. Every function resolves to the seconds the transfer took and the bytes it moved; the
 * caller turns them into MB/s. Guest-side listeners are the copy path's own Perl listener
 * (services/vmd/src/adapters/files/guest-scripts.ts) so the raw channels and `vm cp` accept
 * their connection the same way.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { vmv1 } from '@banger/api';
import { connect, createServer } from 'node:net';
import { LISTENER } from '../services/vmd/src/adapters/files/guest-scripts.js';
import { TcpGuestFiles } from '../services/vmd/src/adapters/files/tcp-guest-files.js';
import { checkedArchive } from '../services/vmd/src/app/upload-files.js';
import { REPO_ROOT } from '../integration/harness/daemons.js';
import type { VmStack } from '../integration/vm/vmstack.js';

export interface Moved {
  seconds: number;
  bytes: number;
}

export const CLI = `${REPO_ROOT}/clients/cli/bin/banger.mjs`;

/** Runs a shell script in the guest through ExecVm; throws on a non-zero exit. */
export async function guestSh(s: VmStack, vm: string, script: string, timeoutMs = 600_000): Promise<string> {
  const res = await s.vmd.unary('execVm', vmv1.ExecVmRequest.fromPartial({ ref: vm, command: { argv: ['sh', '-c', script] } }), { timeoutMs });
  const out = Buffer.from(res.stdout).toString();
  if ((res.status?.exitCode ?? -1) !== 0) throw new Error(`guest: ${script}: exit ${res.status?.exitCode}: ${Buffer.from(res.stderr).toString()}`);
  return out;
}

interface Listening {
  port: number;
  token: string;
  done: Promise<number>;
}

/** Starts the copy listener in the guest: one connection with the token runs `sh -c CMD` with the socket as stdin (in) or stdout (out). */
async function listen(s: VmStack, vm: string, dir: 'in' | 'out', cmd: string): Promise<Listening> {
  const token = randomBytes(24).toString('hex');
  const stream = s.vmd.serverStream('streamExecVm', vmv1.StreamExecVmRequest.fromPartial({ ref: vm, command: { argv: ['perl', '-e', LISTENER, token, dir, 'sh', '-c', cmd], timeout: { seconds: 900, nanos: 0 } } }), { timeoutMs: 960_000 });
  let stdout = '';
  let stderr = '';
  let announce: (port: number) => void = () => undefined;
  let fail: (err: Error) => void = () => undefined;
  const port = new Promise<number>((res, rej) => ((announce = res), (fail = rej)));
  const done = (async () => {
    for await (const msg of stream) {
      const o = msg.output;
      if (o?.$case === 'stdout') {
        stdout += Buffer.from(o.value).toString();
        if (stdout.includes('\n')) announce(Number(stdout.split('\n')[0]));
      } else if (o?.$case === 'stderr') stderr += Buffer.from(o.value).toString();
      else if (o?.$case === 'exit') {
        if (o.value.exitCode !== 0) throw new Error(`guest listener (${cmd}) exited ${o.value.exitCode}: ${stderr}`);
        return o.value.exitCode;
      }
    }
    throw new Error(`guest listener (${cmd}) ended without a status: ${stderr}`);
  })();
  done.catch((err: unknown) => fail(err as Error));
  return { port: await port, token, done };
}

/** A host child's stdout as bytes counted, its stdin fed from a file (or nothing); rejects on a non-zero exit. */
function runChild(file: string, args: string[], env: NodeJS.ProcessEnv, opts: { stdinPrefix?: string; stdinFile?: string }): Promise<{ bytes: number; stdout: string; seconds: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(file, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let bytes = 0;
    let head = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      bytes += c.length;
      if (head.length < 4096) head += c.toString('utf8', 0, Math.min(c.length, 4096));
    });
    child.stderr.on('data', (c: Buffer) => void (stderr.length < 4096 && (stderr += c.toString())));
    child.stdin.on('error', () => undefined);
    if (opts.stdinPrefix) child.stdin.write(opts.stdinPrefix);
    if (opts.stdinFile) createReadStream(opts.stdinFile).pipe(child.stdin);
    else child.stdin.end();
    child.once('error', reject);
    child.once('close', (code) => {
      if (code !== 0) reject(new Error(`${file} ${args.slice(0, 4).join(' ')}: exit ${code}: ${stderr.trim()}`));
      else resolve({ bytes, stdout: head, seconds: (performance.now() - t0) / 1000 });
    });
  });
}

/** Host side of a raw TCP stream, run inside the VMs' namespace: the token, then the file (in) or counting what arrives (out). */
const RAW_CLIENT = `const net = require('node:net'); const fs = require('node:fs');
const [ip, port, token, dir, file] = process.argv.slice(1);
const t0 = performance.now(); let bytes = 0;
const s = net.connect(Number(port), ip, () => {
  s.write(token);
  if (dir === 'in') { const r = fs.createReadStream(file, { highWaterMark: 1 << 20 }); r.on('data', (c) => { bytes += c.length; if (!s.write(c)) { r.pause(); s.once('drain', () => r.resume()); } }); r.on('end', () => s.end()); }
  else s.end();
});
s.on('data', (c) => { if (dir === 'out') bytes += c.length; });
s.on('close', (err) => { if (err) process.exit(1); process.stdout.write(JSON.stringify({ bytes, seconds: (performance.now() - t0) / 1000 })); });
s.on('error', (e) => { console.error(e.message); process.exit(1); });`;

/** Raw TCP from a host process in the VMs' namespace straight to the guest (no vmd, no privhelper): the NIC's ceiling. */
export async function rawTcp(s: VmStack, vm: string, ip: string, dir: 'in' | 'out', guestCmd: string, file = ''): Promise<Moved> {
  const l = await listen(s, vm, dir, guestCmd);
  const r = await runChild('ip', ['netns', 'exec', s.ns.name, process.execPath, '-e', RAW_CLIENT, ip, String(l.port), l.token, dir, file], process.env, {});
  await l.done;
  return JSON.parse(r.stdout) as Moved;
}

/** The same stream through `banger vm tunnel` (OpenTunnel: CLI → vmd gRPC → ConnectGuest socket). */
export async function viaTunnel(s: VmStack, vm: string, dir: 'in' | 'out', guestCmd: string, file = ''): Promise<Moved> {
  const l = await listen(s, vm, dir, guestCmd);
  const r = await runChild(process.execPath, [CLI, 'vm', 'tunnel', vm, String(l.port)], { ...s.stack.env }, dir === 'in' ? { stdinPrefix: l.token, stdinFile: file } : { stdinPrefix: l.token });
  await l.done;
  return { seconds: r.seconds, bytes: dir === 'in' ? (await stat(file)).size : r.bytes };
}

/** ssh over the VM's network through the tunnel (`banger vm ssh NAME -- CMD`), the file on stdin (in) or the command's stdout counted (out). */
export async function viaSsh(s: VmStack, vm: string, home: string, dir: 'in' | 'out', guestCmd: string, file = ''): Promise<Moved> {
  const env = { ...s.stack.env, HOME: home, XDG_STATE_HOME: `${home}/state` };
  const r = await runChild(process.execPath, [CLI, 'vm', 'ssh', vm, '--', guestCmd], env, dir === 'in' ? { stdinFile: file } : {});
  return { seconds: r.seconds, bytes: dir === 'in' ? (await stat(file)).size : r.bytes };
}

/** `banger vm cp --json` as a user runs it; the bytes are what the copy reports. */
export async function viaCp(s: VmStack, src: string, dst: string): Promise<Moved & { reported_mb_s: number }> {
  const r = await runChild(process.execPath, [CLI, 'vm', 'cp', '--json', src, dst], { ...s.stack.env }, {});
  const j = JSON.parse(r.stdout) as { bytes: number; mb_per_second: number };
  return { seconds: r.seconds, bytes: j.bytes, reported_mb_s: j.mb_per_second };
}

/** qemu-guest-agent: guest-exec input-data (in) and guest-file-read of the output (out), through ExecVm. */
export async function viaAgent(s: VmStack, vm: string, dir: 'in' | 'out', bytes: number): Promise<Moved> {
  const t0 = performance.now();
  if (dir === 'in') {
    const res = await s.vmd.unary('execVm', vmv1.ExecVmRequest.fromPartial({ ref: vm, command: { argv: ['sh', '-c', 'cat > /tmp/qga.bin; wc -c < /tmp/qga.bin'], stdin: randomBytes(bytes) } }), { timeoutMs: 600_000 });
    if (Buffer.from(res.stdout).toString().trim() !== String(bytes)) throw new Error(`agent upload stored ${Buffer.from(res.stdout).toString().trim()} of ${bytes} bytes`);
    return { seconds: (performance.now() - t0) / 1000, bytes };
  }
  const res = await s.vmd.unary('execVm', vmv1.ExecVmRequest.fromPartial({ ref: vm, command: { argv: ['head', '-c', String(bytes), '/dev/zero'] }, maxOutputBytes: bytes }), { timeoutMs: 600_000 });
  return { seconds: (performance.now() - t0) / 1000, bytes: res.stdout.length };
}

/**
 * vmd's own share, with no guest: the UploadFiles use case (every tar header checked) relaying
 * an archive through TcpGuestFiles to a loopback listener that plays the guest script. If this
 * is far above the guest channels, the host side is not what limits a copy.
 */
export async function hostRelayOnly(archive: string): Promise<Moved> {
  let received = 0;
  let announced = 0;
  const server = createServer((sock) => sock.on('data', (c: Buffer) => void (received += c.length)));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  const agent = {
    async execStream(_socket: string, argv: string[], onChunk: (c: { stream: 'stdout' | 'stderr'; data: Buffer }) => Promise<void>) {
      await onChunk({ stream: 'stdout', data: Buffer.from(`${port}\n`) });
      await new Promise<void>((resolve) => server.once('connection', (sock) => sock.once('close', () => resolve())));
      announced = argv.length;
      await onChunk({ stream: 'stdout', data: Buffer.from('/dest/big.bin\n') });
      return { exitCode: 0, signal: '', timedOut: false, stdoutTruncated: false, stderrTruncated: false };
    },
  };
  const connector = {
    async connect(_id: string, p: number) {
      const sock = connect(p, '127.0.0.1');
      await once(sock, 'connect');
      return sock;
    },
  };
  const files = new TcpGuestFiles({ agent, connector });
  const t0 = performance.now();
  const checked = checkedArchive(createReadStream(archive, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>, 'big.bin');
  await files.upload({ id: 'v', agentSocket: '' }, { destPath: '/dest', mustBeDir: false, name: 'big.bin' }, checked.stream, { opId: 'op-bench', timeoutMs: 600_000, signal: new AbortController().signal });
  const seconds = (performance.now() - t0) / 1000;
  server.close();
  if (!announced || received < checked.bytes()) throw new Error(`the loopback guest got ${received} of ${checked.bytes()} bytes`);
  return { seconds, bytes: checked.bytes() };
}
