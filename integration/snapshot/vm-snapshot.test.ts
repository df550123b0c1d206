import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { vmv1 } from '@banger/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../harness/daemons.js';
import { collect, qemuPidsFor, vmUnsupportedReason, type VmStack } from '../vm/vmstack.js';
import { stackWithDebianVm } from './debian-source.js';

/*
 * Issue 15 step 4 through vmd and the CLI with the real Debian guest: a named snapshot of a
 * running VM, which keeps running as the same process and the same boot (its uptime goes on, a
 * file written before is still there, it still answers), then snapshot list/show/rm/prune with
 * --json. Then warm creates: `image warm` (its own template boot), a default create taking the
 * warm path and `--cold` taking the cold path, each saying so in its events and in the VM.
 * One source guest for the file.
 */

const skip = vmUnsupportedReason();
if (skip) console.warn(`integration/snapshot vm-snapshot skipped: ${skip}`);

async function exec(s: VmStack, argv: string[], ref = 'src'): Promise<string> {
  const res = await s.vmd.unary('execVm', vmv1.ExecVmRequest.fromPartial({ ref, command: { argv } }), { timeoutMs: 120_000 });
  expect(res.status?.exitCode).toBe(0);
  return Buffer.from(res.stdout).toString();
}

interface SnapshotJson {
  id: string;
  name: string;
  state: string;
  sourceVmName: string;
  sizeBytes: string | number;
  stateBytes: string | number;
  stateSha256: string;
  clones?: string[];
}

describe.skipIf(skip !== undefined)('vm snapshot and banger snapshot list|show|rm|prune, with the Debian guest', () => {
  let s: VmStack;
  let vmId = '';
  const snapshotsDir = (): string => join(s.stack.dir, 'state', 'helper', 'snapshots');

  beforeAll(async () => {
    ({ s, vmId } = await stackWithDebianVm('src'));
  }, 1_900_000);

  afterAll(async () => s?.close());

  it('vm snapshot --as keeps the VM running as the same process and boot; the file written before is still there', async () => {
    await exec(s, ['sh', '-c', 'echo before-snapshot > /root/marker && sync']);
    const uptimeBefore = Number((await exec(s, ['cat', '/proc/uptime'])).split(' ')[0]);
    const pids = await qemuPidsFor(vmId);
    const t = Date.now();
    const res = await runCli(s.stack, ['vm', 'snapshot', 'src', '--as', 'first']);
    const snapshotMs = Date.now() - t;
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toMatch(/snapshot first of src ready in .* \(VM paused .*, .* on disk\)/);
    expect(await qemuPidsFor(vmId)).toEqual(pids);
    expect((await s.vmd.unary('getVm', { ref: 'src', includeSecrets: false })).vm?.state).toBe(vmv1.VmState.VM_STATE_RUNNING);
    expect(await exec(s, ['cat', '/root/marker'])).toBe('before-snapshot\n');
    expect(Number((await exec(s, ['cat', '/proc/uptime'])).split(' ')[0])).toBeGreaterThan(uptimeBefore);
    await exec(s, ['sh', '-c', 'echo after-snapshot > /root/marker && sync']);
    console.log(`[timings] vm snapshot (CLI, 512 MiB Debian guest) ${snapshotMs} ms: ${res.stdout.trim().split('\n').at(-1) ?? ''}`);
  }, 300_000);

  it('snapshot list and show (--json) report it with its source, size and sha256; its files are root-only in privhelper\'s root', async () => {
    const listed = await runCli(s.stack, ['--json', 'snapshot', 'list']);
    expect(listed.code, listed.stderr).toBe(0);
    const [snap] = (JSON.parse(listed.stdout) as { snapshots: SnapshotJson[] }).snapshots;
    expect(snap).toMatchObject({ name: 'first', state: 'ready', sourceVmName: 'src' });
    expect(Number(snap!.stateBytes)).toBeGreaterThan(100 << 20);
    expect(Number(snap!.sizeBytes)).toBeGreaterThanOrEqual(Number(snap!.stateBytes));
    expect(snap!.stateSha256).toMatch(/^[0-9a-f]{64}$/);
    const byVm = await runCli(s.stack, ['--json', 'snapshot', 'list', '--vm', 'src']);
    expect((JSON.parse(byVm.stdout) as { snapshots: SnapshotJson[] }).snapshots.map((x) => x.name)).toEqual(['first']);
    const shown = await runCli(s.stack, ['snapshot', 'show', 'first']);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain(snap!.stateSha256);
    expect(shown.stdout).toMatch(/vm\s+src/);
    const dir = await stat(join(snapshotsDir(), snap!.id));
    expect({ uid: dir.uid, mode: dir.mode & 0o777 }).toEqual({ uid: 0, mode: 0o700 });
    expect((await readdir(join(snapshotsDir(), snap!.id))).sort()).toEqual(['root.qcow2', 'snapshot.json', 'state.bin', 'work.ext4']);
  });

  it('vm create --from restores a clone with the file written before the snapshot and its own MAC, address, hostname, machine-id and host keys', async () => {
    const t = Date.now();
    const res = await runCli(s.stack, ['vm', 'create', '--from', 'first', '--name', 'clone', '--no-wait']);
    const cloneMs = Date.now() - t;
    expect(res.code, res.stderr + res.stdout).toBe(0);
    const clone = (await s.vmd.unary('getVm', { ref: 'clone', includeSecrets: false })).vm!;
    const src = (await s.vmd.unary('getVm', { ref: 'src', includeSecrets: false })).vm!;
    expect(clone.state).toBe(vmv1.VmState.VM_STATE_RUNNING);
    expect(await exec(s, ['cat', '/root/marker'], 'clone')).toBe('before-snapshot\n');
    expect(await exec(s, ['cat', '/root/marker'])).toBe('after-snapshot\n');
    expect((await exec(s, ['hostname'], 'clone')).trim()).toBe('clone');
    const ids = [await exec(s, ['cat', '/etc/machine-id']), await exec(s, ['cat', '/etc/machine-id'], 'clone')];
    expect(ids[1]).not.toBe(ids[0]);
    const keys = [await exec(s, ['cat', '/etc/ssh/ssh_host_ed25519_key.pub']), await exec(s, ['cat', '/etc/ssh/ssh_host_ed25519_key.pub'], 'clone')];
    expect(keys[1]).not.toBe(keys[0]);
    const link = await exec(s, ['ip', '-o', 'addr', 'show'], 'clone');
    expect(link).toContain(`${clone.network?.ipv4}/`);
    expect(link).not.toContain(`${src.network?.ipv4}/`);
    expect((await exec(s, ['ip', '-o', 'link', 'show'], 'clone')).toLowerCase()).toContain((clone.network?.mac ?? '-').toLowerCase());
    expect(clone.network?.mac).not.toBe(src.network?.mac);
    await exec(s, ['sh', '-c', 'echo in-clone > /root/clone-only && sync'], 'clone');
    await expect(exec(s, ['cat', '/root/clone-only'])).rejects.toBeDefined();
    console.log(`[timings] vm create --from (CLI, 512 MiB Debian guest, restore+agent+identity) ${cloneMs} ms: ${res.stdout.trim().split('\n').at(-1) ?? ''}`);
    const del = await runCli(s.stack, ['vm', 'delete', 'clone']);
    expect(del.code, del.stderr).toBe(0);
  }, 300_000);

  it('a taken name, a bad name and an unknown VM are refused with clear errors, and nothing new is recorded', async () => {
    const taken = await runCli(s.stack, ['vm', 'snapshot', 'src', '--as', 'first']);
    expect(taken.code).not.toBe(0);
    expect(taken.stderr).toMatch(/SNAPSHOT_NAME_TAKEN|already/);
    const bad = await runCli(s.stack, ['vm', 'snapshot', 'src', '--as', 'Not_A_Label']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/name/);
    const unknown = await runCli(s.stack, ['vm', 'snapshot', 'nope', '--as', 'second']);
    expect(unknown.code).not.toBe(0);
    const listed = JSON.parse((await runCli(s.stack, ['--json', 'snapshot', 'list'])).stdout) as { snapshots: SnapshotJson[] };
    expect(listed.snapshots.map((x) => x.name)).toEqual(['first']);
    expect((await readdir(snapshotsDir())).filter((n) => !n.startsWith('.'))).toHaveLength(1);
  });

  it('prune --dry-run lists it without deleting; rm deletes the row and the files; the VM runs on', async () => {
    const dry = await runCli(s.stack, ['--json', 'snapshot', 'prune', '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect((JSON.parse(dry.stdout) as { dry_run: boolean; deleted: SnapshotJson[] }).deleted.map((x) => x.name)).toEqual(['first']);
    expect((await readdir(snapshotsDir())).filter((n) => !n.startsWith('.'))).toHaveLength(1);
    const rm = await runCli(s.stack, ['--json', 'snapshot', 'rm', 'first']);
    expect(rm.code, rm.stderr).toBe(0);
    expect((JSON.parse(rm.stdout) as { snapshot: SnapshotJson }).snapshot.name).toBe('first');
    expect(await readdir(snapshotsDir())).toEqual([]);
    const none = await runCli(s.stack, ['snapshot', 'list']);
    expect(none.stdout).toContain('no snapshots');
    expect(await exec(s, ['cat', '/root/marker'])).toBe('after-snapshot\n');
  }, 120_000);

  it('image warm makes a warm snapshot; a default create restores it and says so, --cold boots and says so', async () => {
    const t = Date.now();
    const warmed = await runCli(s.stack, ['--json', 'image', 'warm', '--no-wait'], 900_000);
    const warmMs = Date.now() - t;
    expect(warmed.code, warmed.stderr + warmed.stdout).toBe(0);
    const listed = JSON.parse((await runCli(s.stack, ['--json', 'snapshot', 'list'])).stdout) as { snapshots: (SnapshotJson & { kind: string })[] };
    expect(listed.snapshots).toEqual([expect.objectContaining({ kind: 'warm', state: 'ready' })]);
    const warm = listed.snapshots[0]!;
    expect(warm.name).toMatch(/^warm-debian-bookworm-/);
    expect((await s.vmd.unary('listVms', vmv1.ListVmsRequest.fromPartial({}))).vms.map((v) => v.name)).toEqual(['src']);

    const create = async (name: string, cold: boolean) => {
      const started = Date.now();
      const { items, error } = await collect(s.vmd.serverStream('createVm', vmv1.CreateVmRequest.fromPartial({ name, noWait: true, cold }), { timeoutMs: 900_000 }));
      expect(error).toBeUndefined();
      const bodies = items.map((i) => i.event?.body);
      const path = bodies.flatMap((b) => (b?.$case === 'stageFinished' && b.value.stage === 'path' ? [b.value.message] : []));
      const stages = bodies.flatMap((b) => (b?.$case === 'stageFinished' && b.value.ok ? [b.value.stage] : []));
      return { path, stages, ms: Date.now() - started, vm: (await s.vmd.unary('getVm', { ref: name, includeSecrets: false })).vm! };
    };
    const w = await create('warm1', false);
    expect(w.path).toEqual([expect.stringMatching(new RegExp(`^warm: snapshot ${warm.name} for image debian-bookworm \\d+M/\\d+vcpu/`))]);
    expect(w.stages).toContain('restore');
    expect(w.stages).not.toContain('boot');
    expect(w.vm.createPath).toBe(w.path[0]);
    expect(w.vm.state).toBe(vmv1.VmState.VM_STATE_RUNNING);
    expect((await exec(s, ['hostname'], 'warm1')).trim()).toBe('warm1');
    const shown = await runCli(s.stack, ['vm', 'show', 'warm1']);
    expect(shown.stdout).toMatch(/created by\s+warm: snapshot /);

    const c = await create('cold1', true);
    expect(c.path).toEqual(['cold: --cold']);
    expect(c.stages).toContain('boot');
    expect(c.stages).not.toContain('restore');
    expect(c.vm.createPath).toBe('cold: --cold');
    console.log(`[timings] image warm --no-wait ${warmMs} ms; create warm (no-wait) ${w.ms} ms; create --cold (no-wait) ${c.ms} ms`);
    for (const vm of ['warm1', 'cold1']) expect((await runCli(s.stack, ['vm', 'delete', vm])).code).toBe(0);
    expect((await runCli(s.stack, ['snapshot', 'rm', warm.name])).code).toBe(0);
    expect(await readdir(snapshotsDir())).toEqual([]);
  }, 1_200_000);
});
