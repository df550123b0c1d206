import { FailedPreconditionError } from '@banger/runtime/errors';
import { describe, expect, it } from 'vitest';
import { noStageGate } from '../ports/operation.js';
import { RecordingOperation } from '../testing/fakes.js';
import { vmdHarness } from '../testing/harness.js';
import { MemoryConsoleLogs } from '../testing/memory-console-logs.js';
import { FakeSnapshotHost, MemorySnapshots } from '../testing/snapshot-fakes.js';
import { CreateVmFromSnapshot } from './create-from-snapshot.js';
import { SnapshotVm } from './snapshot.js';
import { VmLocks } from './vm-locks.js';

async function stackWithSnapshot() {
  const h = vmdHarness({ serviceMs: 10 });
  await h.create({ name: 'src' });
  const snapshots = new MemorySnapshots(h.rows);
  const snapshotHost = new FakeSnapshotHost((id) => h.host.processes.has(id), h.host);
  const locks = new VmLocks();
  await new SnapshotVm({ vms: h.rows, snapshots, snapshotHost, locks }).run({ ref: 'src', name: 'snap' }, new RecordingOperation());
  const deps = {
    vms: h.rows,
    host: h.host,
    agent: h.agent,
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
  const clone = async (name: string, snapshot = 'snap') => {
    const op = new RecordingOperation('op-clone0000000');
    try {
      await new CreateVmFromSnapshot(deps).run({ snapshot, name, noWait: true }, op);
      return { op, error: undefined };
    } catch (error) {
      return { op, error };
    }
  };
  return { h, snapshotHost, clone };
}

describe('CreateVmFromSnapshot', () => {
  it('reserves a row with its own address and MAC, copies the disks, restores, sets the identity in the guest; the clone runs beside its source', async () => {
    const { h, snapshotHost, clone } = await stackWithSnapshot();
    const { op, error } = await clone('c1');
    expect(error).toBeUndefined();
    expect(op.stagesFinished()).toEqual(['preflight', 'reserve', 'network', 'disks', 'restore', 'agent', 'identity', 'services']);
    const src = h.entity('src')!;
    const c1 = h.entity('c1')!;
    expect(h.vm('c1')).toMatchObject({ state: 'running' });
    expect(c1.network.ipv4).not.toBe(src.network.ipv4);
    expect(c1.network.mac).not.toBe(src.network.mac);
    expect(c1.memoryMib).toBe(src.memoryMib);
    expect(snapshotHost.calls.filter((c) => c.startsWith('disks') || c.startsWith('restore'))).toEqual([expect.stringMatching(`^disks ${c1.id} `), expect.stringMatching(`^restore ${c1.id} `)]);
    const identity = h.agent.execs.find((e) => e.argv[3] === 'identity');
    // After the perl program and the root prefix ('' in a guest): the clone's values.
    const args = identity?.argv.slice(6) ?? [];
    expect(identity?.argv[5]).toBe('');
    expect(args.slice(0, 4)).toEqual([c1.network.mac, `${c1.network.ipv4}/24`, h.subnet.gateway, 'c1']);
    expect(args[4]).toMatch(/^[0-9a-f]{32}$/);
    expect(Math.abs(Number(args[5]) - Date.now() / 1000)).toBeLessThan(60);
    // The host keys vmd made are recorded for known_hosts; the private halves go in on stdin only.
    expect(c1.spec.sshHostKeys).toEqual([args[8], args[9]]);
    expect(c1.spec.sshHostKeys.map((k) => k.split(' ')[0])).toEqual(['ssh-ed25519', 'ecdsa-sha2-nistp256']);
    expect(identity?.argv.join(' ')).not.toContain('PRIVATE KEY-----\n');
    const input = (identity?.opts.input ?? Buffer.alloc(0)).toString();
    expect(input.match(/-----BEGIN OPENSSH PRIVATE KEY-----\n/g)).toHaveLength(2);
    expect(input).toMatch(/-----END OPENSSH PRIVATE KEY-----\n[0-9a-f]{128}\n$/);
    expect(identity?.opts.overflow).toBe('fail');
    expect(src.spec.sshHostKeys).toEqual([]);
    expect(h.vm('src')?.state).toBe('running');
  });

  it('refuses an unknown snapshot and a taken name before anything is made', async () => {
    const { h, clone } = await stackWithSnapshot();
    expect((await clone('c1', 'nope')).error).toMatchObject({ error: { code: 'NOT_FOUND' } });
    expect((await clone('src')).error).toMatchObject({ error: { reason: 'VM_NAME_TAKEN' } });
    expect([...h.rows.rows.values()].map((v) => v.name)).toEqual(['src']);
  });

  it('a failed restore or identity rolls everything back: no row, no tap, no process', async () => {
    const { h, snapshotHost, clone } = await stackWithSnapshot();
    const before = { taps: h.host.taps.size, procs: h.host.processes.size };
    snapshotHost.failRestore = new FailedPreconditionError('STATE_CORRUPT', 'snapshot snap: its state is refused (injected)');
    const failed = await clone('c1');
    expect(failed.op.events.at(-1)).toMatchObject({ type: 'failure', stage: 'restore', reason: 'STATE_CORRUPT' });
    expect(h.vm('c1')).toBeUndefined();
    expect({ taps: h.host.taps.size, procs: h.host.processes.size }).toEqual(before);
    snapshotHost.failRestore = undefined;
    h.agent.execResult = { ...h.agent.execResult, exitCode: 1, stderr: Buffer.from('ip: injected') };
    const noIdentity = await clone('c2');
    expect(noIdentity.op.events.at(-1)).toMatchObject({ type: 'failure', stage: 'identity', reason: 'CLONE_IDENTITY_FAILED' });
    expect(h.vm('c2')).toBeUndefined();
    expect({ taps: h.host.taps.size, procs: h.host.processes.size }).toEqual(before);
  });
});
