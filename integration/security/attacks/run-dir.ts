import path from 'node:path';
import type { Attacker } from '../lib/attacker.js';
import { takeOverDir } from './dirs.js';

/**
 * VM run directories live in `<run>/vms/<id>/`, and `<run>` is banger's (tmpfiles: /run/banger
 * 0755 banger:banger). Whatever root made inside it, the owner of `<run>` can rename away and
 * replace with its own: these are the attacker's moves there.
 */

/** Pre-creates a VM's run dir with the attacker's symlinks for the files privhelper writes there. */
export async function plantRunDir(a: Attacker, runDir: string, vmId: string, links: Record<string, string>): Promise<string> {
  await takeOverDir(a, path.join(runDir, 'vms'));
  const dir = path.join(runDir, 'vms', vmId);
  await a.mkdir(dir, 0o755);
  for (const [name, target] of Object.entries(links)) await a.symlink(target, path.join(dir, name));
  return dir;
}

/** Replaces `<run>/vms` itself by a symlink to `target`. */
export async function pointRunVmsAt(a: Attacker, runDir: string, target: string): Promise<void> {
  const vms = path.join(runDir, 'vms');
  if (await a.exists(vms)) await a.rename(vms, `${vms}.aside-${Date.now()}`);
  await a.symlink(target, vms);
}
