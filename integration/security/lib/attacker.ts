import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { helperv2 } from '@banger/api';
import type { AgentCommand, AgentRpcError, ExecResult } from '../attacker/protocol.js';
import type { AgentLaunch } from './agent-launch.js';

type Def = typeof helperv2.HelperServiceService;
export type UnaryKey = { [K in keyof Def]: Def[K]['responseStream'] extends false ? K : never }[keyof Def];
type StreamKey = { [K in keyof Def]: Def[K]['responseStream'] extends true ? K : never }[keyof Def];
export type Req<K extends keyof Def> = Parameters<Def[K]['requestSerialize']>[0];
export type Res<K extends keyof Def> = ReturnType<Def[K]['responseDeserialize']>;

/** What the attacker's gRPC client got back: the response, or the refusal with its status. */
export type Outcome<T> = { ok: true; res: T; ms: number } | { ok: false; err: AgentRpcError; ms: number };

export interface StreamOutcome<T> {
  readonly events: T[];
  readonly err?: AgentRpcError;
  readonly cancelled?: boolean;
  readonly ms: number;
}

/** What a racer did: successful swaps (or re-plants), attempts refused, the last refusal's errno. */
export interface RacerReport {
  readonly swaps: number;
  readonly hits: number;
  readonly fails: number;
  readonly lastErrno: string;
  readonly output: string;
}

/** A racer loop the attacker started; `stop()` ends it by its pid and reports what it did. */
export interface Racer {
  readonly pid: number;
  stop(): Promise<RacerReport>;
}

/** One line for an assertion message: what a racer managed. */
export function racerLine(r: RacerReport): string {
  return `racer: ${r.swaps} swaps, ${r.hits} hits, ${r.fails} refused (${r.lastErrno || 'none'})`;
}

/**
 * The test's handle on the attacker agent, a separate process running as the banger uid. Every
 * method is carried out by that process with that uid's credentials: helper RPCs over
 * privhelper's socket, file operations, tools such as qemu-img. Nothing here runs as root.
 */
export class Attacker {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private readonly exited: Promise<void>;
  private stderr = '';
  /** Every step, in order, for a failing test's report. */
  readonly transcript: string[] = [];

  private constructor(
    private readonly child: ChildProcess,
    readonly uid: number,
    readonly gid: number,
    private readonly racerPath: string,
  ) {
    this.exited = new Promise((r) => child.once('exit', () => r()));
    child.stderr?.on('data', (d: Buffer) => (this.stderr = (this.stderr + d.toString()).slice(-4000)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const msg = JSON.parse(line) as { id: number; ok: boolean; result?: unknown; error?: string; code?: string };
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (msg.ok) p.resolve(msg.result);
      else p.reject(Object.assign(new Error(`attacker: ${msg.error ?? '?'}`), { code: msg.code }));
    });
    child.once('exit', (code, signal) => {
      for (const p of this.pending.values()) p.reject(new Error(`attacker agent exited (${code ?? signal ?? '?'}): ${this.stderr}`));
      this.pending.clear();
    });
  }

  /** Starts the agent with the banger uid and gid and no supplementary groups; waits for it to say ready. */
  static async start(launch: AgentLaunch, socketPath: string, racerPath: string): Promise<Attacker> {
    const child = spawn(launch.file, [...launch.args, socketPath], {
      cwd: launch.cwd,
      uid: launch.uid,
      gid: launch.gid,
      env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: launch.home, TMPDIR: launch.home, NO_COLOR: '1', LC_ALL: 'C' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const a = new Attacker(child, launch.uid, launch.gid, racerPath);
    const ready = new Promise<void>((resolve, reject) => {
      a.pending.set(0, { resolve: () => resolve(), reject });
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    await ready.finally(() => clearTimeout(timer));
    const me = await a.send<{ uid: number; gid: number; groups: number[] }>({ op: 'whoami' });
    if (me.uid !== launch.uid || me.uid === 0 || me.groups.includes(0)) throw new Error(`attacker runs as ${JSON.stringify(me)}, not as the unprivileged banger uid`);
    return a;
  }

  private send<T>(cmd: AgentCommand): Promise<T> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return Promise.reject(new Error(`attacker agent has exited: ${this.stderr}`));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.stdin!.write(`${JSON.stringify({ id, ...cmd })}\n`);
    });
  }

  private note(step: string): void {
    this.transcript.push(step);
  }

  /** A unary helper call, exactly as a plain gRPC client would make it. */
  async call<K extends UnaryKey>(method: K, request: Req<K>, timeoutMs = 120_000): Promise<Outcome<Res<K>>> {
    const def = helperv2.HelperServiceService[method];
    const bytes = (def.requestSerialize as (r: Req<K>) => Buffer)(request).toString('base64');
    const r = await this.send<{ response?: string; error?: AgentRpcError; ms: number }>({ op: 'unary', method, request: bytes, timeoutMs });
    this.note(`${method} -> ${r.error ? `${r.error.codeName} ${r.error.reason}: ${r.error.details}` : 'OK'} (${r.ms} ms)`);
    if (r.error) return { ok: false, err: r.error, ms: r.ms };
    return { ok: true, res: def.responseDeserialize(Buffer.from(r.response ?? '', 'base64')) as Res<K>, ms: r.ms };
  }

  async stream<K extends StreamKey>(method: K, request: Req<K>, opts: { timeoutMs?: number; cancelAfter?: number } = {}): Promise<StreamOutcome<Res<K>>> {
    const def = helperv2.HelperServiceService[method];
    const bytes = (def.requestSerialize as (r: Req<K>) => Buffer)(request).toString('base64');
    const r = await this.send<{ events: string[]; error?: AgentRpcError; cancelled?: boolean; ms: number }>({
      op: 'stream',
      method,
      request: bytes,
      timeoutMs: opts.timeoutMs ?? 300_000,
      cancelAfter: opts.cancelAfter ?? 0,
    });
    this.note(`${method} stream -> ${r.events.length} events, ${r.error ? `${r.error.codeName} ${r.error.reason}: ${r.error.details}` : r.cancelled ? 'cancelled by attacker' : 'OK'} (${r.ms} ms)`);
    const events = r.events.map((e) => def.responseDeserialize(Buffer.from(e, 'base64')) as Res<K>);
    return { events, ms: r.ms, ...(r.error ? { err: r.error } : {}), ...(r.cancelled ? { cancelled: true } : {}) };
  }

  private fs<T>(action: string, args: Record<string, unknown>): Promise<T> {
    this.note(`fs ${action} ${JSON.stringify(args).slice(0, 200)}`);
    return this.send<T>({ op: 'fs', action, args });
  }

  symlink(target: string, path: string): Promise<void> {
    return this.fs('symlink', { target, path });
  }
  /** A hard link `path` to `target` (fs.protected_hardlinks decides which targets are allowed). */
  link(target: string, path: string): Promise<void> {
    return this.fs('link', { target, path });
  }

  /**
   * Tries one file operation and reports the errno it failed with ('OK' when it worked): the
   * evidence that a path privhelper uses is out of the attacker's reach.
   */
  async attempt(action: 'writeFile' | 'mkdir' | 'symlink' | 'rename' | 'rm' | 'readdir' | 'link' | 'truncate', args: Record<string, unknown>): Promise<string> {
    const full = action === 'writeFile' ? { data: '', mode: 0o644, ...args } : args;
    return this.fs(action, full).then(
      () => 'OK',
      (err: { code?: string }) => err.code ?? 'ERROR',
    );
  }
  writeError(path: string): Promise<string> {
    return this.attempt('writeFile', { path, data: Buffer.from('attacker\n').toString('base64') });
  }
  mkdirError(path: string): Promise<string> {
    return this.attempt('mkdir', { path, mode: 0o755 });
  }
  symlinkError(target: string, path: string): Promise<string> {
    return this.attempt('symlink', { target, path });
  }
  renameError(from: string, to: string): Promise<string> {
    return this.attempt('rename', { from, to });
  }
  symlinkMany(target: string, paths: string[]): Promise<number> {
    this.note(`fs symlinkMany ${paths.length} links -> ${target}`);
    return this.send({ op: 'fs', action: 'symlinkMany', args: { target, paths } });
  }
  rename(from: string, to: string): Promise<void> {
    return this.fs('rename', { from, to });
  }
  mkdir(path: string, mode = 0o755): Promise<void> {
    return this.fs('mkdir', { path, mode });
  }
  writeFile(path: string, data: string | Buffer, mode = 0o644): Promise<void> {
    return this.fs('writeFile', { path, data: Buffer.from(data).toString('base64'), mode });
  }
  async readFile(path: string): Promise<Buffer> {
    return Buffer.from(await this.fs<string>('readFile', { path }), 'base64');
  }
  /** The errno code reading `path` fails with, or undefined when the attacker can read it. */
  async readError(path: string): Promise<string | undefined> {
    return this.readFile(path).then(
      () => undefined,
      (err: { code?: string }) => err.code ?? 'ERROR',
    );
  }
  rm(path: string): Promise<void> {
    return this.fs('rm', { path });
  }
  readdir(path: string): Promise<string[]> {
    return this.fs('readdir', { path });
  }
  exists(path: string): Promise<boolean> {
    return this.fs('exists', { path });
  }
  truncate(path: string, size: number): Promise<void> {
    return this.fs('truncate', { path, size });
  }
  lstat(path: string): Promise<{ uid: number; gid: number; mode: number; size: number; dir: boolean; link: boolean }> {
    return this.fs('lstat', { path });
  }

  /** Binds a Unix socket of the attacker's own at `path` (kept open until `unlisten`). */
  listen(path: string): Promise<void> {
    this.note(`listen ${path}`);
    return this.send({ op: 'listen', path });
  }
  unlisten(path: string): Promise<void> {
    return this.send({ op: 'unlisten', path });
  }

  async exec(file: string, args: string[], opts: { cwd?: string; timeoutMs?: number } = {}): Promise<ExecResult> {
    const r = await this.send<ExecResult>({ op: 'exec', file, args, timeoutMs: opts.timeoutMs ?? 120_000, ...(opts.cwd ? { cwd: opts.cwd } : {}) });
    this.note(`exec ${file} ${args.join(' ')} -> ${r.code}`);
    return r;
  }

  /** exec that throws on a non-zero exit: the attacker's setup steps must work. */
  async must(file: string, args: string[], opts: { cwd?: string; timeoutMs?: number } = {}): Promise<string> {
    const r = await this.exec(file, args, opts);
    if (r.code !== 0) throw new Error(`attacker: ${file} ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
    return r.stdout;
  }

  /** Starts one of the racer loops (see racer.c) as the attacker; it runs until stopped. */
  /**
   * Starts one of the racer loops (see racer.c) as the attacker; it runs until stopped. The
   * inotify modes wait until the watch exists; a watch the kernel refused (no read access to
   * the directory) is reported by `stop()` as one refusal with its errno.
   */
  async racer(mode: 'exchange' | 'steal' | 'replant' | 'exchange-on', args: [string, string, string]): Promise<Racer> {
    const { pid } = await this.send<{ pid: number }>({ op: 'spawn', file: this.racerPath, args: [mode, ...args] });
    this.note(`racer ${mode} ${args.join(' ')} (pid ${pid})`);
    if (mode === 'steal' || mode === 'exchange-on') {
      for (let i = 0; ; i++) {
        const out = await this.send<string>({ op: 'output', pid });
        if (out.includes('watching') || out.includes('watch refused') || out.includes('swaps=')) break;
        if (i > 300) throw new Error('racer did not start watching');
        await new Promise((r) => setTimeout(r, 10));
      }
    }
    return {
      pid,
      stop: async () => {
        const { output } = await this.send<{ output: string }>({ op: 'stop', pid });
        const m = /swaps=(\d+) hits=(\d+) fails=(\d+) errno=(\S*)/.exec(output);
        this.note(`racer ${pid} stopped: ${m?.[0] ?? output.slice(-200)}`);
        return { swaps: Number(m?.[1] ?? 0), hits: Number(m?.[2] ?? 0), fails: Number(m?.[3] ?? 0), lastErrno: m?.[4] ?? '', output };
      },
    };
  }

  pids(needle: string): Promise<number[]> {
    return this.send({ op: 'pids', needle });
  }

  async close(): Promise<void> {
    this.child.stdin?.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(timer);
  }
}
