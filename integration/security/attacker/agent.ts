/**
 * The attacker: a process running as the unprivileged `banger` uid (never root), driven by the
 * test over stdin/stdout, one JSON request per line. It is a plain gRPC client of privhelper
 * (ServiceClient from @banger/runtime over the helper's Unix socket, requests exactly as the
 * test encoded them) plus the file operations any process of that uid may do. Everything it
 * does, it does with its own credentials; it has no way to ask the test for root.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { createServer, type Server } from 'node:net';
import { createInterface } from 'node:readline';
import { helperv2 } from '@banger/api';
import { RpcError, ServiceClient } from '@banger/runtime';
import type { AgentRequest, AgentRpcError } from './protocol.js';

type Def = typeof helperv2.HelperServiceService;
type AnyMethod = { path: string; requestDeserialize: (b: Buffer) => unknown; responseSerialize: (v: never) => Buffer };

const socketPath = process.argv[2] ?? '';
const client = new ServiceClient(helperv2.HelperServiceService, socketPath);
const listeners = new Map<string, Server>();
const children = new Map<number, { child: ChildProcess; out: string }>();

function rpcError(err: unknown): AgentRpcError {
  if (err instanceof RpcError) {
    return { code: err.code, codeName: err.codeName, reason: err.reason, details: err.details, opId: err.opId ?? '', metadata: { ...err.errorMetadata } };
  }
  throw err;
}

function method(name: string): AnyMethod {
  const def = (helperv2.HelperServiceService as Record<string, AnyMethod | undefined>)[name];
  if (!def) throw new Error(`unknown helper method ${name}`);
  return def;
}

async function unary(name: string, request: string, timeoutMs: number): Promise<unknown> {
  const def = method(name);
  const req = def.requestDeserialize(Buffer.from(request, 'base64'));
  const started = Date.now();
  try {
    const res = await client.unary(name as never, req as never, { timeoutMs });
    return { response: def.responseSerialize(res as never).toString('base64'), ms: Date.now() - started };
  } catch (err) {
    return { error: rpcError(err), ms: Date.now() - started };
  }
}

async function stream(name: string, request: string, timeoutMs: number, cancelAfter: number): Promise<unknown> {
  const def = method(name);
  const req = def.requestDeserialize(Buffer.from(request, 'base64'));
  const events: string[] = [];
  const started = Date.now();
  const call = client.serverStream(name as keyof Def as never, req as never, { timeoutMs });
  try {
    for await (const ev of call) {
      events.push(def.responseSerialize(ev as never).toString('base64'));
      if (cancelAfter > 0 && events.length >= cancelAfter) {
        call.cancel();
        return { events, cancelled: true, ms: Date.now() - started };
      }
    }
    return { events, ms: Date.now() - started };
  } catch (err) {
    return { events, error: rpcError(err), ms: Date.now() - started };
  }
}

function fsOp(action: string, a: Record<string, unknown>): unknown {
  const str = (k: string): string => {
    const v = a[k];
    if (typeof v !== 'string') throw new Error(`fs ${action}: ${k} must be a string`);
    return v;
  };
  const p = typeof a['path'] === 'string' ? a['path'] : '';
  switch (action) {
    case 'symlink':
      return fs.symlinkSync(str('target'), p);
    case 'link':
      return fs.linkSync(str('target'), p);
    case 'symlinkMany':
      for (const each of a['paths'] as string[]) fs.symlinkSync(str('target'), each);
      return (a['paths'] as string[]).length;
    case 'rename':
      return fs.renameSync(str('from'), str('to'));
    case 'mkdir':
      return fs.mkdirSync(p, { recursive: true, mode: Number(a['mode'] ?? 0o755) });
    case 'writeFile':
      return fs.writeFileSync(p, Buffer.from(str('data'), 'base64'), { mode: Number(a['mode'] ?? 0o644) });
    case 'readFile':
      return fs.readFileSync(p).toString('base64');
    case 'rm':
      return fs.rmSync(p, { recursive: true, force: true });
    case 'readdir':
      return fs.readdirSync(p);
    case 'exists':
      return fs.existsSync(p);
    case 'lstat': {
      const st = fs.lstatSync(p);
      return { uid: st.uid, gid: st.gid, mode: st.mode, size: st.size, dir: st.isDirectory(), link: st.isSymbolicLink() };
    }
    case 'truncate':
      return fs.truncateSync(p, Number(a['size']));
    case 'append':
      return fs.appendFileSync(p, Buffer.from(str('data'), 'base64'));
    default:
      throw new Error(`unknown fs action ${action}`);
  }
}

function exec(file: string, args: string[], cwd: string | undefined, timeoutMs: number): Promise<unknown> {
  return new Promise((resolve) => {
    const child = spawn(file, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', (err) => resolve({ code: -1, stdout, stderr: `${stderr}${err.message}` }));
    child.once('close', (code, signal) => resolve({ code: code ?? -1, signal, stdout, stderr }));
  });
}

function startBackground(file: string, args: string[]): unknown {
  const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  if (child.pid === undefined) throw new Error(`cannot start ${file}`);
  const entry = { child, out: '' };
  child.stdout?.on('data', (d: Buffer) => (entry.out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (entry.out += d.toString()));
  children.set(child.pid, entry);
  return { pid: child.pid };
}

async function stopBackground(pid: number): Promise<unknown> {
  const entry = children.get(pid);
  if (!entry) throw new Error(`no background process ${pid}`);
  const { child } = entry;
  if (child.exitCode === null && child.signalCode === null) {
    const gone = new Promise((r) => child.once('close', r));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
    await gone;
    clearTimeout(timer);
  }
  children.delete(pid);
  return { output: entry.out, code: child.exitCode };
}

/** Pids whose command line contains `needle`: what any uid can read from /proc. */
function pidsMatching(needle: string): number[] {
  const out: number[] = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (fs.readFileSync(`/proc/${e}/cmdline`, 'utf8').includes(needle)) out.push(Number(e));
    } catch {
      /* gone */
    }
  }
  return out;
}

async function handle(req: AgentRequest): Promise<unknown> {
  switch (req.op) {
    case 'whoami':
      return { uid: process.getuid?.(), gid: process.getgid?.(), groups: process.getgroups?.() };
    case 'unary':
      return unary(req.method, req.request, req.timeoutMs);
    case 'stream':
      return stream(req.method, req.request, req.timeoutMs, req.cancelAfter);
    case 'fs':
      return fsOp(req.action, req.args);
    case 'exec':
      return exec(req.file, req.args, req.cwd, req.timeoutMs);
    case 'spawn':
      return startBackground(req.file, req.args);
    case 'stop':
      return stopBackground(req.pid);
    case 'output':
      return children.get(req.pid)?.out ?? '';
    case 'pids':
      return pidsMatching(req.needle);
    case 'listen':
      return listenOn(req.path);
    case 'unlisten':
      return unlisten(req.path);
  }
}

/** A socket of the attacker's own at `path`: what a process of this uid can bind where it may create files. */
function listenOn(path: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const server = createServer((c) => {
      // privhelper's liveness probe connects and resets at once.
      c.on('error', () => undefined);
      c.end('attacker\n');
    });
    server.once('error', reject);
    server.listen(path, () => {
      listeners.set(path, server);
      resolve(null);
    });
  });
}

function unlisten(path: string): Promise<unknown> {
  const server = listeners.get(path);
  listeners.delete(path);
  return new Promise((resolve) => (server ? server.close(() => resolve(null)) : resolve(null)));
}

function reply(id: number, body: { ok: true; result: unknown } | { ok: false; error: string; code?: string }): void {
  process.stdout.write(`${JSON.stringify({ id, ...body })}\n`);
}

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  const req = JSON.parse(line) as AgentRequest;
  handle(req).then(
    (result) => reply(req.id, { ok: true, result: result ?? null }),
    (err: unknown) => reply(req.id, { ok: false, error: err instanceof Error ? err.message : String(err), ...(typeof (err as { code?: unknown }).code === 'string' ? { code: (err as { code: string }).code } : {}) }),
  );
});
lines.on('close', () => {
  for (const { child } of children.values()) child.kill('SIGKILL');
  for (const server of listeners.values()) server.close();
  client.close();
  process.exit(0);
});
process.stdout.write(`${JSON.stringify({ id: 0, ok: true, result: 'ready' })}\n`);
