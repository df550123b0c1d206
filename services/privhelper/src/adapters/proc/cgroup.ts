import { access, mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Per-VM cgroups with limits, on either cgroup version:
 *
 * - v2 (unified, current distributions): `<own>/vms/vm-<id>` under privhelper's own cgroup,
 *   with `memory.max`, `pids.max`, `cpu.weight`. The "no internal processes" rule means
 *   privhelper first moves itself to `<own>/helper` and enables the controllers below `<own>`
 *   (systemd's delegation pattern: the unit has Delegate=yes).
 * - v1 (hybrid, e.g. these build machines): for each of memory, pids and cpu, the VM's cgroup
 *   nests under privhelper's own cgroup in that hierarchy (`<mount>/<own>/banger-vms/vm-<id>`),
 *   with `memory.limit_in_bytes`, `pids.max`, `cpu.shares`, so a VM is never moved out of the
 *   limits privhelper itself runs under.
 *
 * The jailer joins the cgroups before it executes QEMU, so QEMU is born limited.
 */

export interface VmLimits {
  readonly memoryBytes: number;
  readonly pids: number;
  /** Relative CPU share: 1 per vCPU. */
  readonly cpuUnits: number;
}

export interface VmCgroups {
  readonly version: 1 | 2;
  /** Directories the jailer writes its pid into (one per v1 hierarchy, one for v2). */
  readonly dirs: readonly string[];
}

export interface CgroupEnv {
  /** Usually /sys/fs/cgroup. */
  readonly root: string;
  /** Contents of /proc/self/cgroup. */
  readonly selfCgroup: string;
  readonly pid: number;
}

const V1_CONTROLLERS = ['memory', 'pids', 'cpu'] as const;

export class CgroupError extends Error {
  override readonly name = 'CgroupError';
}

async function exists(p: string): Promise<boolean> {
  return access(p).then(
    () => true,
    () => false,
  );
}

/** The cgroup path of this process in a hierarchy: v2 is the `0::` line, v1 the line listing `controller`. */
export function ownPath(selfCgroup: string, controller: string | null): string | undefined {
  for (const line of selfCgroup.split('\n')) {
    const [, ctrls, p] = line.split(':');
    if (p === undefined || ctrls === undefined) continue;
    if (controller === null ? ctrls === '' && line.startsWith('0:') : ctrls.split(',').includes(controller)) return p;
  }
  return undefined;
}

export async function detectVersion(root: string): Promise<1 | 2 | null> {
  if (await exists(path.join(root, 'cgroup.controllers'))) return 2;
  if ((await exists(path.join(root, 'memory', 'memory.limit_in_bytes'))) && (await exists(path.join(root, 'pids')))) return 1;
  return null;
}

/**
 * Creates (or reuses) and limits a VM's cgroups. Throws CgroupError with the reason when the
 * host offers no way to do it; the caller decides whether the launch may go on without them.
 */
export async function prepareVmCgroups(env: CgroupEnv, vmId: string, limits: VmLimits): Promise<VmCgroups> {
  const version = await detectVersion(env.root);
  if (version === null) throw new CgroupError(`${env.root} has neither a cgroup v2 hierarchy nor v1 memory and pids controllers`);
  if (version === 2) {
    const own = ownPath(env.selfCgroup, null);
    if (own === undefined) throw new CgroupError('no cgroup v2 entry in /proc/self/cgroup');
    const base = path.join(env.root, own === '/' ? '' : own.replace(/\/helper$/, ''));
    await delegateV2(base, env.pid);
    const dir = path.join(base, 'vms', `vm-${vmId}`);
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'memory.max'), `${limits.memoryBytes}\n`);
    await writeFile(path.join(dir, 'memory.swap.max'), '0\n').catch(() => undefined);
    await writeFile(path.join(dir, 'pids.max'), `${limits.pids}\n`);
    await writeFile(path.join(dir, 'cpu.weight'), `${Math.min(10_000, Math.max(1, 100 * limits.cpuUnits))}\n`);
    return { version, dirs: [dir] };
  }
  const dirs: string[] = [];
  for (const c of V1_CONTROLLERS) {
    const own = ownPath(env.selfCgroup, c) ?? '/';
    const dir = path.join(env.root, c, own, 'banger-vms', `vm-${vmId}`);
    await mkdir(dir, { recursive: true });
    if (c === 'memory') await writeFile(path.join(dir, 'memory.limit_in_bytes'), `${limits.memoryBytes}\n`);
    if (c === 'pids') await writeFile(path.join(dir, 'pids.max'), `${limits.pids}\n`);
    if (c === 'cpu') await writeFile(path.join(dir, 'cpu.shares'), `${Math.max(2, 1024 * limits.cpuUnits)}\n`);
    dirs.push(dir);
  }
  return { version, dirs };
}

/**
 * v2 delegation: the controllers can be enabled below `base` only once no process sits in
 * `base` itself, so this process moves to `base/helper` (once), then memory, pids and cpu are
 * enabled in `base` and in `base/vms`.
 */
async function delegateV2(base: string, pid: number): Promise<void> {
  const helper = path.join(base, 'helper');
  const procs = (await readFile(path.join(base, 'cgroup.procs'), 'utf8').catch(() => '')).split('\n').filter(Boolean);
  if (procs.length > 0) {
    await mkdir(helper, { recursive: true });
    // Everything privhelper runs (itself, its jailers) lives in helper/.
    for (const p of procs) await writeFile(path.join(helper, 'cgroup.procs'), `${p}\n`).catch(() => undefined);
    if (!procs.includes(String(pid))) await writeFile(path.join(helper, 'cgroup.procs'), `${pid}\n`);
  }
  const want = ['memory', 'pids', 'cpu'];
  const enable = async (dir: string): Promise<void> => {
    const have = (await readFile(path.join(dir, 'cgroup.subtree_control'), 'utf8')).split(/\s+/);
    const missing = want.filter((c) => !have.includes(c));
    if (missing.length > 0) await writeFile(path.join(dir, 'cgroup.subtree_control'), missing.map((c) => `+${c}`).join(' '));
  };
  await enable(base);
  await mkdir(path.join(base, 'vms'), { recursive: true });
  await enable(path.join(base, 'vms'));
}

/** Reads back what a VM's cgroups enforce, for tests and `vm show`. */
export async function readVmLimits(cg: VmCgroups): Promise<{ memoryBytes: number; pids: number; cpu: number }> {
  const read = async (dir: string, file: string): Promise<number> => Number((await readFile(path.join(dir, file), 'utf8')).trim());
  if (cg.version === 2) {
    const dir = cg.dirs[0] ?? '';
    return { memoryBytes: await read(dir, 'memory.max'), pids: await read(dir, 'pids.max'), cpu: await read(dir, 'cpu.weight') };
  }
  const [mem = '', pids = '', cpu = ''] = cg.dirs;
  return { memoryBytes: await read(mem, 'memory.limit_in_bytes'), pids: await read(pids, 'pids.max'), cpu: await read(cpu, 'cpu.shares') };
}

/** Removes a VM's cgroups; one still populated for a moment after a kill (EBUSY) is retried briefly. */
export async function removeVmCgroups(cg: VmCgroups, attempts = 20): Promise<void> {
  for (const dir of cg.dirs) {
    for (let i = 0; i < attempts; i++) {
      try {
        await rmdir(dir);
        break;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') break;
        if (code !== 'EBUSY') break;
        await sleep(100);
      }
    }
  }
}
