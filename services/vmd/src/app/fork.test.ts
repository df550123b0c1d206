import { describe, expect, it } from 'vitest';
import type { GuestAgent, GuestExecOptions } from '../ports/agent.js';
import { noStageGate } from '../ports/operation.js';
import { RecordingOperation } from '../testing/fakes.js';
import { vmdHarness } from '../testing/harness.js';
import { MemoryConsoleLogs } from '../testing/memory-console-logs.js';
import { FakeSnapshotHost, MemorySnapshots } from '../testing/snapshot-fakes.js';
import { CreateVmFromSnapshot } from './create-from-snapshot.js';
import { ForkVm, forkNames } from './fork.js';
import { leftoverOwner } from './gc-ownership.js';
import { SnapshotVm } from './snapshot.js';
import { undoLeftover } from './undo-leftover.js';
import { VmLocks } from './vm-locks.js';

/** A fork over vmd's fakes; `failIdentityOf` makes the identity script of those clones fail in the guest. */
async function forkStack(failIdentityOf: readonly string[] = []) {
  const h = vmdHarness({ serviceMs: 10 });
  await h.create({ name: 'src' });
  const snapshots = new MemorySnapshots(h.rows);
  const snapshotHost = new FakeSnapshotHost((id) => h.host.processes.has(id), h.host);
  const locks = new VmLocks();
  const agent: GuestAgent = Object.assign(Object.create(h.agent) as typeof h.agent, {
    exec: async (socket: string, argv: string[], opts?: GuestExecOptions) =>
      argv[3] === 'identity' && failIdentityOf.includes(argv[9] ?? '') ? { ...h.agent.execResult, exitCode: 1, stderr: Buffer.from('ip: injected') } : h.agent.exec(socket, argv, opts),
  });
  const deps = {
    vms: h.rows,
    host: h.host,
    agent,
    consoleLogs: new MemoryConsoleLogs(),
    bridge: 'br-test',
    subnet: h.subnet,
    sshPublicKey: 'ssh-ed25519 AAAAbanger banger',
    timeouts: { agentMs: 1000, serviceMs: 50 },
    gate: noStageGate,
    images: h.images,
    locks,
    snapshots,
    snapshotHost,
  };
  const fork = new ForkVm(deps, new SnapshotVm(deps), new CreateVmFromSnapshot(deps));
  /** A fork whose clones never come up, as when vmd dies while they restore: the promise is abandoned. */
  const dying = new ForkVm(deps, new SnapshotVm(deps), { run: () => new Promise<never>(() => undefined) });
  const run = async (cmd: { count: number; prefix?: string; ref?: string }) => {
    const op = new RecordingOperation('op-fork00000000');
    try {
      await fork.run({ ref: cmd.ref ?? 'src', count: cmd.count, prefix: cmd.prefix ?? '', noWait: true }, op);
      return { op, error: undefined };
    } catch (error) {
      return { op, error };
    }
  };
  return { h, snapshots, snapshotHost, run, dying };
}

const names = (h: ReturnType<typeof vmdHarness>): string[] => [...h.rows.rows.values()].map((v) => v.name).sort();

describe('ForkVm', () => {
  it('snapshots the source, starts K clones named PREFIX-i with their own identity, and deletes its internal snapshot', async () => {
    const { h, snapshots, snapshotHost, run } = await forkStack();
    const { op, error } = await run({ count: 2 });
    expect(error).toBeUndefined();
    expect(op.events[0]).toMatchObject({ type: 'accepted', kind: 'vm_fork', target: 'src' });
    expect(names(h)).toEqual(['src', 'src-1', 'src-2']);
    expect(op.stagesFinished()).toEqual(expect.arrayContaining(['snapshot', 'src-1:restore', 'src-1:identity', 'src-2:restore', 'src-2:identity', 'release']));
    expect(op.events.filter((e) => e.type === 'result' || e.type === 'failure')).toHaveLength(1);
    const result = op.events.at(-1);
    expect(result).toMatchObject({ type: 'result', result: { fork: { source: 'src', failed: [] } } });
    const clones = (result as unknown as { result: { fork: { clones: { name: string }[] } } }).result.fork.clones;
    expect(clones.map((c) => c.name)).toEqual(['src-1', 'src-2']);
    const [a, b] = [h.entity('src-1')!, h.entity('src-2')!];
    expect(a.network.ipv4).not.toBe(b.network.ipv4);
    expect(a.spec.sshHostKeys[0]).not.toBe(b.spec.sshHostKeys[0]);
    expect(await snapshots.list()).toEqual([]);
    expect(snapshotHost.files.size).toBe(0);
    expect(h.vm('src')?.state).toBe('running');
  });

  it('a clone that fails is rolled back and listed; the others stay and the fork succeeds', async () => {
    const { h, snapshots, run } = await forkStack(['web-2']);
    const taps = h.host.taps.size;
    const { op, error } = await run({ count: 3, prefix: 'web' });
    expect(error).toBeUndefined();
    expect(names(h)).toEqual(['src', 'web-1', 'web-3']);
    expect(op.events.at(-1)).toMatchObject({ type: 'result', result: { fork: { failed: [{ name: 'web-2', stage: 'identity', reason: 'CLONE_IDENTITY_FAILED' }] } } });
    expect(op.events).toContainEqual(expect.objectContaining({ type: 'log_line', stage: 'web-2:failed', stream: 'stderr' }));
    expect(h.host.taps.size).toBe(taps + 2);
    expect(await snapshots.list()).toEqual([]);
  });

  it('every clone failing fails the fork with FORK_FAILED, leaving only the source', async () => {
    const { h, snapshots, snapshotHost, run } = await forkStack(['src-1', 'src-2']);
    const { op, error } = await run({ count: 2 });
    expect(error).toMatchObject({ code: 'FAILED_PRECONDITION', reason: 'FORK_FAILED' });
    expect(op.events.at(-1)).toMatchObject({ type: 'failure', reason: 'FORK_FAILED' });
    expect(names(h)).toEqual(['src']);
    expect(await snapshots.list()).toEqual([]);
    expect(snapshotHost.files.size).toBe(0);
  });

  it('refuses a bad count, a bad prefix, a taken clone name and an unknown VM before any snapshot', async () => {
    const { h, snapshots, run } = await forkStack();
    for (const count of [0, 17, 1.5]) expect((await run({ count })).error).toMatchObject({ code: 'INVALID_ARGUMENT', reason: 'INVALID_COUNT', fields: { field: 'count' } });
    expect((await run({ count: 1, prefix: 'Bad_Prefix' })).error).toMatchObject({ reason: 'INVALID_NAME', fields: { field: 'prefix' } });
    expect((await run({ count: 1, prefix: 'x'.repeat(62) })).error).toMatchObject({ fields: { field: 'prefix' } });
    await h.create({ name: 'web-2' });
    expect((await run({ count: 2, prefix: 'web' })).error).toMatchObject({ reason: 'VM_NAME_TAKEN', fields: { field: 'prefix' } });
    expect((await run({ count: 1, ref: 'nope' })).error).toMatchObject({ code: 'NOT_FOUND' });
    expect(names(h)).toEqual(['src', 'web-2']);
    expect(await snapshots.list()).toEqual([]);
  });
});

describe('ForkVm interrupted', () => {
  it('records its internal snapshot by name before taking it and forgets it once deleted; left behind, the undo step removes it', async () => {
    const done = await forkStack();
    const { op, error } = await done.run({ count: 1 });
    expect(error).toBeUndefined();
    expect([...op.resources.values()].filter((r) => r.kind === 'snapshot')).toEqual([]);

    const { h, snapshots, snapshotHost, dying } = await forkStack();
    const killed = new RecordingOperation('op-fork00000001');
    void dying.run({ ref: 'src', count: 1, prefix: '', noWait: true }, killed);
    await killed.untilStageStarted('snapshot');
    while ((await snapshots.list()).every((s) => s.state !== 'ready')) await new Promise((r) => setTimeout(r, 1));
    const left = [...killed.resources.values()].filter((r) => r.kind === 'snapshot');
    expect(left).toEqual([{ kind: 'snapshot', ref: expect.stringMatching(/^fork-[0-9a-f]{12}$/), detail: { vm_id: h.vm('src')?.id } }]);
    expect((await snapshots.list()).map((s) => s.name)).toEqual([left[0]?.ref]);
    // Never adopted, not even by its running source VM.
    expect(leftoverOwner(left[0]!, { state: 'running' }, false)).toBe('nobody');
    await undoLeftover({ host: h.host, vms: h.rows, snapshots, snapshotHost }, h.vm('src')?.id ?? '', left[0]!);
    expect(await snapshots.list()).toEqual([]);
    expect(snapshotHost.files.size).toBe(0);
    // Idempotent: retried by the janitor after a crash between the two steps.
    await undoLeftover({ host: h.host, vms: h.rows, snapshots, snapshotHost }, '', left[0]!);
  });
});

describe('forkNames', () => {
  it('names PREFIX-1..PREFIX-K', () => {
    expect(forkNames(3, 'dev')).toEqual(['dev-1', 'dev-2', 'dev-3']);
  });
});
