import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
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

const run = promisify(execFile);
const skip = vmUnsupportedReason();
if (skip) console.warn(`integration/snapshot vm-snapshot skipped: ${skip}`);

async function exec(s: VmStack, argv: string[], ref = 'src'): Promise<string> {
  const res = await s.vmd.unary('execVm', vmv1.ExecVmRequest.fromPartial({ ref, command: { argv } }), { timeoutMs: 120_000 });
  expect(res.status?.exitCode).toBe(0);
  return Buffer.from(res.stdout).toString();
}

interface TimedOutput {
  out: string;
  /** Host seconds just before the exec was sent and just after it answered. */
  from: number;
  to: number;
}

async function timedExec(s: VmStack, argv: string[], ref: string): Promise<TimedOutput> {
  const from = Date.now() / 1000;
  const out = await exec(s, argv, ref);
  return { out, from, to: Date.now() / 1000 };
}

/** The guest's `date +%s` lies inside the exec's host-time window, give or take `slackS`. */
function expectClockWithin(t: TimedOutput, slackS: number): void {
  const guest = Number(t.out.trim());
  expect(guest).toBeGreaterThan(t.from - slackS);
  expect(guest).toBeLessThan(t.to + slackS);
}

/**
 * `vm ssh REF --print` (which records the host keys vmd made in the user's banger known_hosts),
 * then that ssh command with StrictHostKeyChecking=yes: it connects only if the recorded keys
 * are the guest's.
 */
async function sshStrict(s: VmStack, ref: string, hostname: string): Promise<void> {
  const home = await mkdtemp(join(tmpdir(), 'banger-ssh-home-'));
  const env = { XDG_STATE_HOME: join(home, 'state'), HOME: home };
  try {
    const print = await runCli(s.stack, ['--json', 'vm', 'ssh', ref, '--print'], 60_000, env);
    expect(print.code, print.stderr).toBe(0);
    const argv = (JSON.parse(print.stdout) as { argv: string[] }).argv.map((a) => (a === 'StrictHostKeyChecking=accept-new' ? 'StrictHostKeyChecking=yes' : a));
    expect(argv).toContain('StrictHostKeyChecking=yes');
    const res = await run(argv[0]!, [...argv.slice(1, -1), '-o', 'BatchMode=yes', argv.at(-1)!, 'hostname'], { env: { ...process.env, ...s.stack.env, ...env }, timeout: 120_000 });
    expect(res.stdout.trim()).toBe(hostname);
  } finally {
    await rm(home, { recursive: true, force: true });
  }
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
    const res = await runCli(s.stack, ['vm', 'create', '--from', 'first', '--name', 'clone', '--no-wait'], 600_000);
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
    // The host keys vmd made are the guest's, and `vm ssh` trusts them with no first-use prompt.
    expect(clone.ssh?.hostKeys.map((k) => k.split(' ').slice(0, 2).join(' '))).toEqual([keys[1]!.trim().split(' ').slice(0, 2).join(' '), expect.stringMatching(/^ecdsa-sha2-nistp256 /)]);
    await sshStrict(s, 'clone', 'clone');
    // The clock was set from the host's (the restored one stopped at snapshot time). The guest
    // read it somewhere inside the exec, which a loaded host can stretch to tens of seconds, so
    // the check brackets the exec rather than comparing with the time it returned.
    expectClockWithin(await timedExec(s, ['date', '+%s'], 'clone'), 30);
    await exec(s, ['sh', '-c', 'echo in-clone > /root/clone-only && sync'], 'clone');
    await expect(exec(s, ['cat', '/root/clone-only'])).rejects.toBeDefined();
    console.log(`[timings] vm create --from (CLI, 512 MiB Debian guest, restore+agent+identity) ${cloneMs} ms: ${res.stdout.trim().split('\n').at(-1) ?? ''}`);
    const del = await runCli(s.stack, ['vm', 'delete', 'clone']);
    expect(del.code, del.stderr).toBe(0);
  }, 600_000);

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

  it('vm fork --count 2: two running clones that differ from each other and from the source in every identity item, share the files of the fork, not later writes; the source runs on unchanged', async () => {
    await exec(s, ['sh', '-c', 'echo before-fork > /root/marker && sync']);
    const pids = await qemuPidsFor(vmId);
    const srcIdentity = await exec(s, ['sh', '-c', 'cat /etc/machine-id /etc/ssh/ssh_host_ed25519_key.pub; hostname']);
    const t = Date.now();
    const res = await runCli(s.stack, ['--json', 'vm', 'fork', 'src', '--count', '2', '--prefix', 'fk', '--no-wait'], 600_000);
    const forkMs = Date.now() - t;
    expect(res.code, res.stderr + res.stdout.slice(-2000)).toBe(0);
    const events = res.stdout.trim().split('\n').map((l) => JSON.parse(l) as { accepted?: { kind: string }; stageFinished?: { stage: string; durationMs?: string }; fork?: { source: string; clones: { name: string }[]; failed?: unknown[]; pauseMs?: string } });
    expect(events[0]?.accepted?.kind).toBe('OPERATION_KIND_VM_FORK');
    const result = events.at(-1)?.fork;
    expect(result?.source).toBe('src');
    expect(result?.clones.map((c) => c.name)).toEqual(['fk-1', 'fk-2']);
    expect(result?.failed ?? []).toEqual([]);
    const finished = events.flatMap((e) => (e.stageFinished ? [e.stageFinished] : []));
    for (const c of ['fk-1', 'fk-2']) expect(finished.map((f) => f.stage)).toEqual(expect.arrayContaining([`${c}:restore`, `${c}:identity`]));
    expect(finished.map((f) => f.stage)).toEqual(expect.arrayContaining(['snapshot', 'release']));

    // The source: same process, same boot, still running, identity unchanged.
    expect(await qemuPidsFor(vmId)).toEqual(pids);
    expect((await s.vmd.unary('getVm', { ref: 'src', includeSecrets: false })).vm?.state).toBe(vmv1.VmState.VM_STATE_RUNNING);
    expect(await exec(s, ['sh', '-c', 'cat /etc/machine-id /etc/ssh/ssh_host_ed25519_key.pub; hostname'])).toBe(srcIdentity);

    const probe = 'cat /etc/machine-id /etc/ssh/ssh_host_ed25519_key.pub /etc/ssh/ssh_host_ecdsa_key.pub; hostname; od -An -N16 -tx1 /dev/urandom; date +%s';
    const probedFrom = Date.now() / 1000;
    const seen = await Promise.all(['fk-1', 'fk-2'].map(async (c) => (await exec(s, ['sh', '-c', probe], c)).trim().split('\n')));
    const probedTo = Date.now() / 1000;
    const vmsNow = await Promise.all(['src', 'fk-1', 'fk-2'].map(async (r) => (await s.vmd.unary('getVm', { ref: r, includeSecrets: false })).vm!));
    for (const [i, lines] of seen.entries()) {
      const [machineId, ed, ec, host, rng, clock] = lines;
      expect(host).toBe(`fk-${i + 1}`);
      expect(srcIdentity).not.toContain(machineId!);
      expect(srcIdentity).not.toContain(ed!.split(' ')[1]!);
      expect(vmsNow[i + 1]!.ssh?.hostKeys.map((k) => k.split(' ')[1])).toEqual([ed!.split(' ')[1], ec!.split(' ')[1]]);
      expect(rng).toMatch(/^[ 0-9a-f]+$/);
      // Loose: a guest starved under TCG on a loaded host falls behind by tens of seconds, and in a
      // fork the snapshot is only seconds older than the restore, so this only catches a clock
      // left far off (the named-snapshot case above checks it tighter).
      expectClockWithin({ out: clock ?? '', from: probedFrom, to: probedTo }, 120);
      expect(await exec(s, ['cat', '/root/marker'], `fk-${i + 1}`)).toBe('before-fork\n');
    }
    // Every identity item differs between the two forks, the RNG output too (reseeded from host entropy).
    for (let k = 0; k < 5; k++) expect(seen[0]![k]).not.toBe(seen[1]![k]);
    const [src, f1, f2] = vmsNow;
    expect(new Set([src!.network?.mac, f1!.network?.mac, f2!.network?.mac]).size).toBe(3);
    expect(new Set([src!.network?.ipv4, f1!.network?.ipv4, f2!.network?.ipv4]).size).toBe(3);
    expect((await exec(s, ['ip', '-o', 'link', 'show'], 'fk-2')).toLowerCase()).toContain((f2!.network?.mac ?? '-').toLowerCase());

    await exec(s, ['sh', '-c', 'echo only-in-fk-1 > /root/fork-only && sync'], 'fk-1');
    await expect(exec(s, ['cat', '/root/fork-only'], 'fk-2')).rejects.toBeDefined();
    await expect(exec(s, ['cat', '/root/fork-only'])).rejects.toBeDefined();
    await sshStrict(s, 'fk-2', 'fk-2');
    // The internal snapshot is gone once the clones restored.
    // (proto3 JSON leaves an empty list out.)
    const listed = JSON.parse((await runCli(s.stack, ['--json', 'snapshot', 'list'])).stdout) as { snapshots?: SnapshotJson[] };
    expect((listed.snapshots ?? []).filter((x) => x.name.startsWith('fork-'))).toEqual([]);
    const stageMs = finished.filter((f) => /^(snapshot|release|fk-\d:(disks|restore|agent|identity))$/.test(f.stage)).map((f) => `${f.stage} ${f.durationMs ?? 0}`);
    console.log(`[timings] vm fork --count 2 (CLI, 512 MiB Debian guest) ${forkMs} ms, source paused ${result?.pauseMs ?? '?'} ms: ${stageMs.join(', ')}`);
    for (const c of ['fk-1', 'fk-2']) expect((await runCli(s.stack, ['vm', 'delete', c])).code).toBe(0);
  }, 900_000);

  it('vm fork refuses a bad count and a prefix that makes bad names, naming the field, and starts nothing', async () => {
    const zero = await runCli(s.stack, ['vm', 'fork', 'src', '--count', '0']);
    expect(zero.code).not.toBe(0);
    expect(zero.stderr).toMatch(/count/);
    const many = await runCli(s.stack, ['vm', 'fork', 'src', '--count', '17']);
    expect(many.stderr).toMatch(/count: must be between 1 and 16/);
    const bad = await runCli(s.stack, ['vm', 'fork', 'src', '--prefix', 'Bad_Prefix']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/prefix/);
    const names = ((await s.vmd.unary('listVms', { states: [], image: '' })).vms ?? []).map((v) => v.name);
    expect(names).toEqual(['src']);
  }, 120_000);
});
