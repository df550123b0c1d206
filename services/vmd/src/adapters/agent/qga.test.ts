import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fakeQga, type FakeQga, type FakeQgaOptions } from '../../testing/fake-qga.js';
import { QgaSession, qgaReadFile } from './qga.js';
import { qgaExecCaptured } from './qga-capture.js';
import { qgaExec, wrapCommand } from './qga-exec.js';

const echo = (argv: string[]): { stdout: Buffer; exitcode: number; polls: number } | undefined =>
  argv[0] === '/bin/echo' ? { stdout: Buffer.from(`${argv.slice(1).join(' ')}\n`), exitcode: 3, polls: 2 } : undefined;

describe('QgaSession', () => {
  let agent: FakeQga | undefined;
  afterEach(async () => agent?.close());
  /** A fake agent for this test, removed after it. */
  const started = async (opts: FakeQgaOptions = {}): Promise<FakeQga> => (agent = await fakeQga({ program: echo, ...opts }));

  it('syncs past stale channel data and runs a command to completion', async () => {
    const a = await started({ garbageFirst: true });
    const session = await QgaSession.open(a.path, 5000);
    const res = await qgaExec(session, ['/bin/echo', 'hi']);
    session.close();
    expect(res).toMatchObject({ exitCode: 3, signal: '', timedOut: false, stdoutTruncated: false, stderrTruncated: false });
    expect(res.stdout.toString()).toBe('hi\n');
    expect(a.removed).toHaveLength(2);
  });

  it('retries the sync until the agent answers', async () => {
    const a = await started({ ignoreFirstSync: true });
    const session = await QgaSession.open(a.path, 5000);
    session.close();
  });

  it('leaves no stale answers behind when many syncs queued up while the guest booted', async () => {
    const a = await started({ openAfterMs: 1300 });
    const t0 = Date.now();
    const session = await QgaSession.open(a.path, 5000);
    expect(Date.now() - t0).toBeLessThan(2500);
    // The first command after the sync gets its own answer, not a leftover sync or parse error.
    const res = await qgaExec(session, ['/bin/echo', 'hi']);
    session.close();
    expect(res.stdout.toString()).toBe('hi\n');
  });

  it('reads a guest file in chunks without starting a process, and reports a missing one as undefined', async () => {
    const a = await started();
    a.files.set('/etc/banger/secrets/opencode', Buffer.from('s3cret-part1-part2\n'));
    const session = await QgaSession.open(a.path, 5000);
    expect(await qgaReadFile(session, '/etc/banger/secrets/missing', 4096)).toBeUndefined();
    expect((await qgaReadFile(session, '/etc/banger/secrets/opencode', 4096))?.toString()).toBe('s3cret-part1-part2\n');
    expect(a.closedHandles).toBe(1);
    session.close();
  });

  it('maps agent errors and unreachable sockets to typed errors', async () => {
    const a = await started();
    const session = await QgaSession.open(a.path, 5000);
    await expect(session.execute('guest-bogus', undefined, 1000)).rejects.toMatchObject({ reason: 'AGENT_ERROR' });
    session.close();
    await expect(QgaSession.open(join(a.dir, 'missing.sock'), 500)).rejects.toMatchObject({ reason: 'AGENT_UNREACHABLE', code: 'UNAVAILABLE' });
  });

  it('hangs up when its sync is not answered, so the agent can serve the next caller', async () => {
    const a = await started({ silentConnections: 1 });
    await expect(QgaSession.open(a.path, 400)).rejects.toMatchObject({ reason: 'AGENT_TIMEOUT' });
    await new Promise((r) => setTimeout(r, 100));
    // A connection left open here is what wedged a VM's agent (QEMU serves one client at a time).
    expect(a.clientCloses).toBe(1);
    const session = await QgaSession.open(a.path, 5000);
    expect((await qgaExec(session, ['/bin/echo', 'back'])).stdout.toString()).toBe('back\n');
    session.close();
  });

  it('kills a command that outlives its timeout and says it timed out', async () => {
    const a = await started({ program: () => ({ polls: Infinity }) });
    const session = await QgaSession.open(a.path, 5000);
    const res = await qgaExec(session, ['/bin/sleep', 'forever'], { timeoutMs: 200 });
    session.close();
    expect(a.killed).toEqual([77]);
    expect(res).toMatchObject({ timedOut: true, signal: 'SIGKILL' });
  });
});

describe('a hostile guest agent', () => {
  let agent: FakeQga | undefined;
  afterEach(async () => agent?.close());
  const started = async (opts: FakeQgaOptions): Promise<FakeQga> => (agent = await fakeQga({ program: echo, ...opts }));

  it('that never sends a newline: the call fails at the line cap and the connection is dropped', async () => {
    let sent = 0;
    const a = await started({
      override: (cmd, _args, sock) => {
        if (cmd !== 'guest-info') return undefined;
        const flood = (): void => {
          while (!sock.destroyed && sock.write(Buffer.alloc(64 * 1024, 0x41))) sent += 64 * 1024;
          if (!sock.destroyed && sent < 64 << 20) sock.once('drain', flood);
        };
        flood();
        return '';
      },
    });
    const session = await QgaSession.open(a.path, 5000, { maxLineBytes: 256 * 1024 });
    await expect(session.execute('guest-info', undefined, 10_000)).rejects.toMatchObject({ reason: 'AGENT_LINE_TOO_LONG', code: 'RESOURCE_EXHAUSTED' });
    await expect(session.execute('guest-ping', undefined, 1000)).rejects.toMatchObject({ reason: 'AGENT_LINE_TOO_LONG' });
    await new Promise((r) => setTimeout(r, 100));
    expect(a.clientCloses).toBe(1);
    // The flood stopped well short of what it meant to send: vmd hung up.
    expect(sent).toBeLessThan(16 << 20);
  });

  it('that answers a read with a count larger than asked: refused, the secret cap is not exceeded', async () => {
    const big = Buffer.alloc(8192, 0x61);
    const a = await started({
      override: (cmd) => (cmd === 'guest-file-read' ? `${JSON.stringify({ return: { count: big.length, 'buf-b64': big.toString('base64'), eof: true } })}\n` : undefined),
    });
    a.files.set('/etc/banger/secrets/x', Buffer.from('x'));
    const session = await QgaSession.open(a.path, 5000);
    await expect(qgaReadFile(session, '/etc/banger/secrets/x', 4096)).rejects.toMatchObject({ reason: 'AGENT_PROTOCOL_ERROR' });
    session.close();
  });

  it('that lies about count (small count, big data): refused, not believed', async () => {
    const big = Buffer.alloc(4000, 0x61);
    let reads = 0;
    const a = await started({
      override: (cmd) => {
        if (cmd !== 'guest-file-read') return undefined;
        reads += 1;
        // Two reads of 4000 bytes claiming 1 each would pass a sum of counts under 4096.
        return `${JSON.stringify({ return: { count: 1, 'buf-b64': big.toString('base64'), eof: reads > 1 } })}\n`;
      },
    });
    a.files.set('/etc/banger/secrets/x', Buffer.from('x'));
    const session = await QgaSession.open(a.path, 5000);
    await expect(qgaReadFile(session, '/etc/banger/secrets/x', 4096)).rejects.toMatchObject({ reason: 'AGENT_PROTOCOL_ERROR' });
    session.close();
  });

  it('that sends data that is not base64, or a count that is not a number: refused', async () => {
    for (const ret of [{ count: 3, 'buf-b64': '!!!!', eof: true }, { count: '3', 'buf-b64': 'YWJj', eof: true }, { count: 3, 'buf-b64': 'YWJj', eof: 'yes' }]) {
      const a = await started({ override: (cmd) => (cmd === 'guest-file-read' ? `${JSON.stringify({ return: ret })}\n` : undefined) });
      a.files.set('/f', Buffer.from('abc'));
      const session = await QgaSession.open(a.path, 5000);
      await expect(qgaReadFile(session, '/f', 4096)).rejects.toMatchObject({ reason: 'AGENT_PROTOCOL_ERROR' });
      session.close();
      await a.close();
    }
    agent = undefined;
  });

  it('keeps a file larger than the cap from being read past it', async () => {
    const a = await started({});
    a.files.set('/etc/banger/secrets/x', Buffer.alloc(1 << 20, 0x61));
    const session = await QgaSession.open(a.path, 5000);
    await expect(qgaReadFile(session, '/etc/banger/secrets/x', 4096)).rejects.toMatchObject({ reason: 'AGENT_FILE_TOO_LARGE' });
    session.close();
  });

  it('whose command prints more than the limit: output kept up to it and reported truncated', async () => {
    const a = await started({ program: () => ({ stdout: Buffer.alloc(300_000, 0x62), stderr: Buffer.from('small') }) });
    const session = await QgaSession.open(a.path, 5000);
    const res = await qgaExec(session, ['yes'], { maxOutputBytes: 100_000 });
    session.close();
    expect(res.stdout.length).toBe(100_000);
    expect(res).toMatchObject({ stdoutTruncated: true, stderrTruncated: false });
    expect(res.stderr.toString()).toBe('small');
  });

  it('output exactly at the limit is not truncated', async () => {
    const a = await started({ program: () => ({ stdout: Buffer.alloc(65_536, 0x62) }) });
    const session = await QgaSession.open(a.path, 5000);
    const res = await qgaExec(session, ['x'], { maxOutputBytes: 65_536 });
    session.close();
    expect(res).toMatchObject({ stdoutTruncated: false });
    expect(res.stdout.length).toBe(65_536);
  });

  it('refuses an output limit past the hard maximum', async () => {
    const a = await started({});
    const session = await QgaSession.open(a.path, 5000);
    await expect(qgaExec(session, ['x'], { maxOutputBytes: 17 << 20 })).rejects.toMatchObject({ reason: 'INVALID_OUTPUT_LIMIT', code: 'INVALID_ARGUMENT' });
    session.close();
  });

  it('whose command never stops writing: the call ends at its timeout plus the drain grace', async () => {
    const a = await started({ program: () => ({ polls: Infinity, grow: Buffer.alloc(65_536, 0x63) }), ignoreKill: true });
    const session = await QgaSession.open(a.path, 5000);
    const t0 = Date.now();
    const res = await qgaExec(session, ['yes'], { timeoutMs: 300, maxOutputBytes: 16 << 20, drainGraceMs: 500 });
    const took = Date.now() - t0;
    session.close();
    expect(took).toBeLessThan(3000);
    expect(res).toMatchObject({ timedOut: true, signal: 'SIGKILL' });
    expect(res.stdout.length).toBeLessThanOrEqual(16 << 20);
  });

  it('whose command exited while a leftover process keeps writing: what was there at the exit is read, then the call ends', async () => {
    const a = await started({ program: () => ({ polls: 0, stdout: Buffer.alloc(100_000, 0x61), grow: Buffer.alloc(65_536, 0x63) }) });
    const session = await QgaSession.open(a.path, 5000);
    const t0 = Date.now();
    const res = await qgaExec(session, ['yes'], { maxOutputBytes: 16 << 20, drainGraceMs: 500 });
    session.close();
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(res).toMatchObject({ timedOut: false, stdoutTruncated: false });
    expect(res.stdout.subarray(0, 100_000).equals(Buffer.alloc(100_000, 0x61))).toBe(true);
  });

  it('that answers guest-exec with a bogus pid or a status without "exited": a protocol error', async () => {
    let a = await started({ override: (cmd) => (cmd === 'guest-exec' ? '{"return": {"pid": "1; rm -rf /"}}\n' : undefined) });
    let session = await QgaSession.open(a.path, 5000);
    await expect(qgaExec(session, ['x'])).rejects.toMatchObject({ reason: 'AGENT_PROTOCOL_ERROR' });
    session.close();
    await a.close();
    a = await started({ override: (cmd) => (cmd === 'guest-exec-status' ? '{"return": {"exitcode": 0}}\n' : undefined) });
    session = await QgaSession.open(a.path, 5000);
    await expect(qgaExec(session, ['x'])).rejects.toMatchObject({ reason: 'AGENT_PROTOCOL_ERROR' });
    session.close();
  });

  it('that answers with something other than JSON: a protocol error, not a crash', async () => {
    const a = await started({ override: (cmd) => (cmd === 'guest-info' ? 'not json at all\n' : undefined) });
    const session = await QgaSession.open(a.path, 5000);
    await expect(session.execute('guest-info', undefined, 1000)).rejects.toMatchObject({ reason: 'AGENT_PROTOCOL_ERROR' });
    session.close();
  });
});

describe('output written just before the exit', () => {
  let agent: FakeQga | undefined;
  afterEach(async () => agent?.close());
  const big = Buffer.from(Array.from({ length: 1 << 20 }, (_, i) => i % 251));

  it('is read whole however long the guest takes to hand it over (the time allowed grows with its size)', async () => {
    // 16 reads of 64 KiB, each answered 40 ms late: far past a fixed 300 ms drain.
    agent = await fakeQga({ program: () => ({ polls: 0, stdout: big, stderr: Buffer.from('bye'), exitcode: 3 }), readDelayMs: 40 });
    const session = await QgaSession.open(agent.path, 5000);
    const res = await qgaExec(session, ['x'], { maxOutputBytes: 2 << 20, drainGraceMs: 300 });
    session.close();
    expect(res).toMatchObject({ exitCode: 3, stdoutTruncated: false, stderrTruncated: false });
    expect(res.stdout.equals(big)).toBe(true);
    expect(res.stderr.toString()).toBe('bye');
  });

  it('fails EXEC_OUTPUT_INCOMPLETE, naming the stream and how much was read, when the guest is slower than the bound', async () => {
    // 200 KiB is allowed 0.1 s + 3.1 s; four reads answered 1.2 s late each take 4.8 s.
    agent = await fakeQga({ program: () => ({ polls: 0, stdout: Buffer.alloc(200 * 1024, 0x61) }), readDelayMs: 1200 });
    const session = await QgaSession.open(agent.path, 5000);
    const err = await qgaExec(session, ['x'], { maxOutputBytes: 1 << 20, drainGraceMs: 100 }).catch((e: unknown) => e);
    session.close();
    expect(err).toMatchObject({ code: 'DEADLINE_EXCEEDED', reason: 'EXEC_OUTPUT_INCOMPLETE', fields: { stream: 'stdout', size: String(200 * 1024) } });
    expect((err as Error).message).toMatch(/of its 204800 bytes read \(not read within 3 s\)/);
  });

  it('fails EXEC_OUTPUT_INCOMPLETE when the file ends before the size it had at the exit', async () => {
    agent = await fakeQga({
      program: () => ({ polls: 0, stdout: Buffer.alloc(100_000, 0x61) }),
      override: (cmd) => (cmd === 'guest-file-read' ? `${JSON.stringify({ return: { count: 0, 'buf-b64': '', eof: true } })}\n` : undefined),
    });
    const session = await QgaSession.open(agent.path, 5000);
    await expect(qgaExec(session, ['x'])).rejects.toMatchObject({ reason: 'EXEC_OUTPUT_INCOMPLETE', message: expect.stringMatching(/0 of its 100000 bytes read \(the file ended early\)/) });
    session.close();
  });
});

describe('captured exec (vmd\'s own short commands)', () => {
  let agent: FakeQga | undefined;
  afterEach(async () => agent?.close());

  it('runs one guest process and answers its output', async () => {
    agent = await fakeQga({ program: echo });
    const session = await QgaSession.open(agent.path, 5000);
    const res = await qgaExecCaptured(session, ['/bin/echo', 'hi'], { maxOutputBytes: 1024 });
    session.close();
    expect(res).toMatchObject({ exitCode: 3, timedOut: false, stdoutTruncated: false });
    expect(res.stdout.toString()).toBe('hi\n');
    expect(agent.removed).toEqual([]);
  });

  it('fails past its limit instead of truncating, and at the line cap for a bigger answer', async () => {
    agent = await fakeQga({ program: () => ({ stdout: Buffer.alloc(10_000, 0x61) }) });
    let session = await QgaSession.open(agent.path, 5000);
    await expect(qgaExecCaptured(session, ['x'], { maxOutputBytes: 1000 })).rejects.toMatchObject({ reason: 'AGENT_OUTPUT_TOO_LARGE', code: 'RESOURCE_EXHAUSTED' });
    session.close();
    await agent.close();
    agent = await fakeQga({ program: () => ({ stdout: Buffer.alloc(4 << 20, 0x61) }) });
    session = await QgaSession.open(agent.path, 5000);
    await expect(qgaExecCaptured(session, ['x'])).rejects.toMatchObject({ reason: 'AGENT_LINE_TOO_LONG' });
    session.close();
  });

  it('refuses captured output that is not base64', async () => {
    agent = await fakeQga({ override: (cmd) => (cmd === 'guest-exec-status' ? '{"return": {"exited": true, "exitcode": 0, "out-data": "%%%"}}\n' : cmd === 'guest-exec' ? '{"return": {"pid": 5}}\n' : undefined) });
    const session = await QgaSession.open(agent.path, 5000);
    await expect(qgaExecCaptured(session, ['x'])).rejects.toMatchObject({ reason: 'AGENT_PROTOCOL_ERROR' });
    session.close();
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
