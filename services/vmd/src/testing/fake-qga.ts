import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A guest program the fake runs: what it writes, how it ends. */
export interface FakeProgram {
  stdout?: Buffer;
  stderr?: Buffer;
  exitcode?: number;
  /** Polls of guest-exec-status answered "running" before it exits; Infinity never exits by itself. */
  polls?: number;
  /** Appended to stdout at every read: a command that never stops writing. */
  grow?: Buffer;
}

export interface FakeQgaOptions {
  garbageFirst?: boolean;
  ignoreFirstSync?: boolean;
  openAfterMs?: number;
  /** The program run for an argv (after the exec wrapper); undefined: exit 127. */
  program?: (argv: string[]) => FakeProgram | undefined;
  /** Answers a command itself (a hostile agent); a string is written as is, undefined falls through. */
  override?: (execute: string, args: Record<string, unknown>, sock: Socket) => string | Buffer | undefined;
  /** After a kill, guest-exec-status still says running (an agent that never reports the exit). */
  ignoreKill?: boolean;
  /** The first this many connections get no answer to their syncs (an agent busy elsewhere). */
  silentConnections?: number;
  /** Each guest-file-read is answered this late (a guest busy under TCG). */
  readDelayMs?: number;
}

interface Proc {
  /** Started with capture-output: its output comes back in guest-exec-status. */
  captured: boolean;
  program: FakeProgram;
  polls: number;
  killed: boolean;
  out: string | undefined;
}

/**
 * A scripted stand-in for qemu-guest-agent speaking its line protocol over a real Unix socket
 * (the real agent is covered in integration/vm): guest-exec of the exec wrapper, exec-status,
 * and guest-file-* over an in-memory file table, plus hooks to make it lie or flood.
 */
export async function fakeQga(opts: FakeQgaOptions = {}): Promise<FakeQga> {
  const dir = await mkdtemp(join(tmpdir(), 'qga-'));
  const agent = new FakeQga(join(dir, 'agent.sock'), dir, opts);
  await new Promise<void>((r) => agent.server.listen(agent.path, r));
  return agent;
}

export class FakeQga {
  readonly server: Server;
  readonly files = new Map<string, Buffer>();
  readonly killed: number[] = [];
  readonly removed: string[] = [];
  closedHandles = 0;
  /** Connections the client (vmd) ended or dropped. */
  clientCloses = 0;
  private readonly procs = new Map<number, Proc>();
  private readonly handles = new Map<number, { path: string; pos: number; grow: Buffer | undefined }>();
  private nextPid = 77;
  private nextHandle = 1000;
  private syncs = 0;
  private connections = 0;

  constructor(
    readonly path: string,
    readonly dir: string,
    private readonly opts: FakeQgaOptions,
  ) {
    this.server = createServer((sock) => this.serve(sock));
  }

  async close(): Promise<void> {
    this.server.close();
    await rm(this.dir, { recursive: true, force: true });
  }

  private serve(sock: Socket): void {
    sock.on('error', () => undefined);
    this.connections += 1;
    if (this.connections <= (this.opts.silentConnections ?? 0)) {
      sock.on('close', () => (this.clientCloses += 1));
      sock.resume();
      return;
    }
    sock.on('close', () => (this.clientCloses += 1));
    if (this.opts.garbageFirst) sock.write('{"return": {}}\n{"partial":');
    let buf = '';
    const handle = (d: Buffer): void => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const req = JSON.parse(buf.slice(0, nl)) as { execute: string; arguments?: Record<string, unknown> };
        buf = buf.slice(nl + 1);
        const answer = this.answer(req.execute, req.arguments ?? {}, sock);
        const send = (): void => void (answer !== undefined && !sock.destroyed && sock.write(answer));
        // The client waits for each answer before its next command, so a late one keeps the order.
        if (req.execute === 'guest-file-read' && this.opts.readDelayMs) setTimeout(send, this.opts.readDelayMs);
        else send();
      }
    };
    // Like qemu-ga: a raw 0xFF byte resets the parser, dropping any partial input, and is
    // answered with an (undelimited) parse error.
    const onData = (chunk: Buffer): void => {
      for (let ff = chunk.indexOf(0xff); ff >= 0; ff = chunk.indexOf(0xff)) {
        handle(chunk.subarray(0, ff));
        buf = '';
        sock.write(`{"error": {"class": "GenericError", "desc": "JSON parse error, stray '\\uFFFD'"}}\n`);
        chunk = chunk.subarray(ff + 1);
      }
      handle(chunk);
    };
    // Like QEMU before the guest opens its port: input waits, then arrives all at once.
    const held: Buffer[] = [];
    const opened = Date.now() + (this.opts.openAfterMs ?? 0);
    sock.on('data', (d: Buffer) => {
      if (Date.now() < opened) held.push(d);
      else onData(d);
    });
    if (this.opts.openAfterMs) setTimeout(() => held.length > 0 && onData(Buffer.concat(held.splice(0))), this.opts.openAfterMs);
  }

  private answer(execute: string, args: Record<string, unknown>, sock: Socket): string | Buffer | undefined {
    const ok = (v: unknown): string => `${JSON.stringify({ return: v })}\n`;
    const fail = (desc: string): string => `${JSON.stringify({ error: { class: 'GenericError', desc } })}\n`;
    if (execute === 'guest-sync-delimited') {
      this.syncs += 1;
      if (this.opts.ignoreFirstSync && this.syncs === 1) return undefined;
      return Buffer.concat([Buffer.from([0xff]), Buffer.from(ok(args['id']))]);
    }
    const hostile = this.opts.override?.(execute, args, sock);
    if (hostile !== undefined) return hostile;
    switch (execute) {
      case 'guest-exec':
        return ok({ pid: this.spawn(args) });
      case 'guest-exec-status': {
        const p = this.procs.get(Number(args['pid']));
        if (!p) return fail('pid not found');
        if (p.killed && !this.opts.ignoreKill) return ok({ exited: true, signal: 9 });
        p.polls += 1;
        if (p.polls <= (p.program.polls ?? 1)) return ok({ exited: false });
        const out = p.captured ? { 'out-data': (p.program.stdout ?? Buffer.alloc(0)).toString('base64'), 'err-data': (p.program.stderr ?? Buffer.alloc(0)).toString('base64') } : {};
        return ok({ exited: true, exitcode: p.program.exitcode ?? 0, ...out });
      }
      case 'guest-file-open': {
        const path = String(args['path']);
        if (!this.files.has(path)) return fail('failed to open file: No such file or directory');
        const h = this.nextHandle++;
        const owner = [...this.procs.values()].find((p) => p.out === path && !p.killed);
        this.handles.set(h, { path, pos: 0, grow: owner?.program.grow });
        return ok(h);
      }
      case 'guest-file-read': {
        const h = this.handles.get(Number(args['handle']));
        if (!h) return fail('invalid handle');
        let data = this.files.get(h.path) ?? Buffer.alloc(0);
        if (h.grow) this.files.set(h.path, (data = Buffer.concat([data, h.grow])));
        const chunk = data.subarray(h.pos, h.pos + Number(args['count']));
        h.pos += chunk.length;
        return ok({ count: chunk.length, 'buf-b64': chunk.toString('base64'), eof: h.pos >= data.length });
      }
      case 'guest-file-seek': {
        const h = this.handles.get(Number(args['handle']));
        if (!h) return fail('invalid handle');
        const size = (this.files.get(h.path) ?? Buffer.alloc(0)).length;
        const base = args['whence'] === 'end' ? size : args['whence'] === 'cur' ? h.pos : 0;
        h.pos = base + Number(args['offset']);
        return ok({ position: h.pos, eof: h.pos >= size });
      }
      case 'guest-file-close':
        this.closedHandles += 1;
        this.handles.delete(Number(args['handle']));
        return ok({});
      default:
        return `${JSON.stringify({ error: { class: 'CommandNotFound', desc: `${execute} not found` } })}\n`;
    }
  }

  /** guest-exec of the exec wrapper, the kill script or rm. */
  private spawn(args: Record<string, unknown>): number {
    const path = String(args['path']);
    const arg = (args['arg'] ?? []) as string[];
    const pid = this.nextPid++;
    if (path === '/bin/sh' && arg[2] === 'banger-kill') {
      const target = this.procs.get(Number(arg[3]));
      if (target) {
        target.killed = true;
        if (target.out) this.handles.forEach((h) => h.path === target.out && (h.grow = undefined));
      }
      this.killed.push(Number(arg[3]));
      return pid;
    }
    if (path === '/bin/rm') {
      for (const f of arg.slice(1)) {
        this.files.delete(f);
        this.removed.push(f);
      }
      return pid;
    }
    if (args['capture-output'] === true) {
      const program = this.opts.program?.([path, ...arg]) ?? { stderr: Buffer.from('not found\n'), exitcode: 127 };
      this.procs.set(pid, { captured: true, program, polls: 0, killed: false, out: undefined });
      return pid;
    }
    const redirect = /^exec "\$@" >(\S+) 2>(\S+)$/.exec(arg[1] ?? '');
    if (path !== '/bin/sh' || !redirect) throw new Error(`fake agent: unexpected guest-exec ${path} ${arg.join(' ')}`);
    const [, out = '', err = ''] = redirect;
    const program = this.opts.program?.(arg.slice(3)) ?? { stderr: Buffer.from('sh: not found\n'), exitcode: 127 };
    this.files.set(out, program.stdout ?? Buffer.alloc(0));
    this.files.set(err, program.stderr ?? Buffer.alloc(0));
    this.procs.set(pid, { captured: false, program, polls: 0, killed: false, out });
    return pid;
  }
}
