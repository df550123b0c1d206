import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { QgaSession, qgaExec, qgaReadFile, wrapCommand } from './qga.js';

/** A scripted stand-in for qemu-guest-agent speaking its line protocol (the real one is covered in integration/vm). */
async function fakeAgent(opts: { garbageFirst?: boolean; ignoreFirstSync?: boolean; openAfterMs?: number; hangs?: boolean } = {}): Promise<{ path: string; server: Server; dir: string; closed: () => number; killed: () => string[] }> {
  const dir = await mkdtemp(join(tmpdir(), 'qga-'));
  const path = join(dir, 'agent.sock');
  let syncs = 0;
  let polls = 0;
  let reads = 0;
  let closed = 0;
  const killed: string[] = [];
  const server = createServer((sock) => {
    if (opts.garbageFirst) sock.write('{"return": {}}\n{"partial":');
    let buf = '';
    const onData = (chunk: Buffer): void => {
      // Like qemu-ga: a raw 0xFF byte resets the parser, dropping any partial input, and is
      // answered with an (undelimited) parse error. Input is handled in order, byte by byte.
      for (let ff = chunk.indexOf(0xff); ff >= 0; ff = chunk.indexOf(0xff)) {
        handle(chunk.subarray(0, ff));
        buf = '';
        sock.write(`{"error": {"class": "GenericError", "desc": "JSON parse error, stray '\\uFFFD'"}}\n`);
        chunk = chunk.subarray(ff + 1);
      }
      handle(chunk);
    };
    const handle = (d: Buffer): void => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const req = JSON.parse(buf.slice(0, nl)) as { execute: string; arguments?: Record<string, unknown> };
        buf = buf.slice(nl + 1);
        if (req.execute === 'guest-sync-delimited') {
          syncs += 1;
          if (opts.ignoreFirstSync && syncs === 1) continue;
          sock.write(Buffer.concat([Buffer.from([0xff]), Buffer.from(`{"return": ${String(req.arguments?.['id'])}}\n`)]));
        } else if (req.execute === 'guest-exec') {
          const args = (req.arguments?.['arg'] ?? []) as string[];
          if (req.arguments?.['path'] === '/bin/sh' && args[2] === 'banger-kill') {
            killed.push(args[3] ?? '');
            sock.write('{"return": {"pid": 78}}\n');
          } else {
            expect(req.arguments?.['path']).toBe('/bin/echo');
            sock.write('{"return": {"pid": 77}}\n');
          }
        } else if (req.execute === 'guest-exec-status') {
          polls += 1;
          if (opts.hangs) sock.write(killed.includes('77') ? '{"return": {"exited": true, "signal": 9}}\n' : '{"return": {"exited": false}}\n');
          else sock.write(polls < 3 ? '{"return": {"exited": false}}\n' : `{"return": {"exited": true, "exitcode": 3, "out-data": "${Buffer.from('hi\n').toString('base64')}"}}\n`);
        } else if (req.execute === 'guest-file-open') {
          const exists = req.arguments?.['path'] === '/etc/banger/secrets/opencode';
          sock.write(exists ? '{"return": 1000}\n' : '{"error": {"class": "GenericError", "desc": "failed to open file: No such file or directory"}}\n');
        } else if (req.execute === 'guest-file-read') {
          reads += 1;
          const data = reads === 1 ? Buffer.from('s3cret-part1') : reads === 2 ? Buffer.from('-part2\n') : Buffer.alloc(0);
          sock.write(`{"return": {"count": ${data.length}, "buf-b64": "${data.toString('base64')}", "eof": ${String(reads >= 3)}}}\n`);
        } else if (req.execute === 'guest-file-close') {
          closed += 1;
          sock.write('{"return": {}}\n');
        } else {
          sock.write('{"error": {"class": "CommandNotFound", "desc": "nope"}}\n');
        }
      }
    };
    // Like QEMU before the guest opens its port: input waits, then arrives all at once.
    const held: Buffer[] = [];
    const opened = Date.now() + (opts.openAfterMs ?? 0);
    sock.on('data', (d: Buffer) => {
      if (Date.now() < opened) held.push(d);
      else onData(d);
    });
    if (opts.openAfterMs) setTimeout(() => held.length > 0 && onData(Buffer.concat(held.splice(0))), opts.openAfterMs);
  });
  await new Promise<void>((r) => server.listen(path, r));
  return { path, server, dir, closed: () => closed, killed: () => killed };
}

describe('QgaSession', () => {
  let cleanup: (() => Promise<void>) | undefined;
  afterEach(async () => cleanup?.());
  /** A fake agent for this test, removed after it. */
  const started = async (opts?: Parameters<typeof fakeAgent>[0]): ReturnType<typeof fakeAgent> => {
    const agent = await fakeAgent(opts);
    cleanup = async () => {
      agent.server.close();
      await rm(agent.dir, { recursive: true, force: true });
    };
    return agent;
  };

  it('syncs past stale channel data and runs a command to completion', async () => {
    const agent = await started({ garbageFirst: true });
    const session = await QgaSession.open(agent.path, 5000);
    const res = await qgaExec(session, ['/bin/echo', 'hi']);
    session.close();
    expect(res.exitCode).toBe(3);
    expect(res.stdout.toString()).toBe('hi\n');
  });

  it('retries the sync until the agent answers', async () => {
    const agent = await started({ ignoreFirstSync: true });
    const session = await QgaSession.open(agent.path, 5000);
    session.close();
  });

  it('leaves no stale answers behind when many syncs queued up while the guest booted', async () => {
    const agent = await started({ openAfterMs: 1300 });
    const t0 = Date.now();
    const session = await QgaSession.open(agent.path, 5000);
    expect(Date.now() - t0).toBeLessThan(2500);
    // The first command after the sync gets its own answer, not a leftover sync or parse error.
    const res = await qgaExec(session, ['/bin/echo', 'hi']);
    session.close();
    expect(res.stdout.toString()).toBe('hi\n');
  });

  it('reads a guest file in chunks without starting a process, and reports a missing one as undefined', async () => {
    const agent = await started();
    const session = await QgaSession.open(agent.path, 5000);
    expect(await qgaReadFile(session, '/etc/banger/secrets/missing', 4096)).toBeUndefined();
    expect((await qgaReadFile(session, '/etc/banger/secrets/opencode', 4096))?.toString()).toBe('s3cret-part1-part2\n');
    expect(agent.closed()).toBe(1);
    session.close();
  });

  it('maps agent errors and unreachable sockets to typed errors', async () => {
    const agent = await started();
    const session = await QgaSession.open(agent.path, 5000);
    await expect(session.execute('guest-bogus', undefined, 1000)).rejects.toMatchObject({ reason: 'AGENT_ERROR' });
    session.close();
    await expect(QgaSession.open(join(agent.dir, 'missing.sock'), 500)).rejects.toMatchObject({ reason: 'AGENT_UNREACHABLE', code: 'UNAVAILABLE' });
  });

  it('kills a command that outlives its timeout and says it timed out', async () => {
    const agent = await started({ hangs: true });
    const session = await QgaSession.open(agent.path, 5000);
    const res = await qgaExec(session, ['/bin/echo', 'forever'], { timeoutMs: 200 });
    session.close();
    expect(agent.killed()).toEqual(['77']);
    expect(res).toMatchObject({ timedOut: true, signal: 'SIGKILL' });
  });

  it('reports a normal exit as not timed out, with no signal', async () => {
    const agent = await started();
    const session = await QgaSession.open(agent.path, 5000);
    const res = await qgaExec(session, ['/bin/echo', 'hi']);
    session.close();
    expect(res).toMatchObject({ exitCode: 3, signal: '', timedOut: false });
  });
});

describe('wrapCommand', () => {
  it('leaves a plain command alone', () => {
    expect(wrapCommand(['id', '-u'], {})).toEqual(['id', '-u']);
  });

  it('passes user and directory as positional parameters of a fixed script', () => {
    const w = wrapCommand(['sh', '-c', 'echo "$HOME"; rm x'], { user: 'nobody', workingDir: '/tmp/a b' });
    expect(w.slice(0, 2)).toEqual(['/bin/sh', '-c']);
    expect(w.slice(3)).toEqual(['banger-exec', '/tmp/a b', 'nobody', 'sh', '-c', 'echo "$HOME"; rm x']);
    expect(w[2]).not.toContain('nobody');
  });
});
