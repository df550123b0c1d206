import { access, mkdir, rmdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** Outcome of placing a VM's process in its own cgroup; `path` is null when skipped, with the reason. */
export interface CgroupPlacement {
  readonly path: string | null;
  readonly reason: string;
}

/**
 * Moves a VM's process into `<cgroupRoot>/banger/vm-<id>` on a cgroup v2 hierarchy, so its
 * CPU/memory show up (and can later be limited) per VM. Optional: hosts without a writable v2
 * hierarchy skip it, and a failure never fails the launch.
 */
export async function placeInCgroup(cgroupRoot: string | null, vmId: string, pid: number): Promise<CgroupPlacement> {
  if (cgroupRoot === null) return { path: null, reason: 'cgroups disabled by config' };
  try {
    await access(path.join(cgroupRoot, 'cgroup.controllers'));
  } catch {
    return { path: null, reason: `${cgroupRoot} is not a cgroup v2 hierarchy` };
  }
  const dir = path.join(cgroupRoot, 'banger', `vm-${vmId}`);
  try {
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'cgroup.procs'), `${pid}\n`);
    return { path: dir, reason: 'placed' };
  } catch (err) {
    return { path: null, reason: `cgroup placement failed: ${(err as Error).message}` };
  }
}

/**
 * Removes the VM's cgroup. A killed process leaves it populated for a moment (EBUSY), so retry
 * briefly; absence is fine and a cgroup still busy after that is left for the next launch to reuse.
 */
export async function removeCgroup(cgroupRoot: string | null, vmId: string, attempts = 20): Promise<boolean> {
  if (cgroupRoot === null) return false;
  const dir = path.join(cgroupRoot, 'banger', `vm-${vmId}`);
  for (let i = 0; i < attempts; i++) {
    try {
      await rmdir(dir);
      return true;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return false;
      if (code !== 'EBUSY') return false;
      await sleep(100);
    }
  }
  return false;
}
