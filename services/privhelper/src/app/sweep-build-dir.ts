import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';

/**
 * Start-up step, before serving: every build and promotion runs inside one privhelper process
 * in a fresh `mkdtemp` under the build root, so whatever is there when privhelper starts was
 * left by a process that died mid-build (SIGKILL, power loss) and nothing can finish it. They
 * are removed, in privhelper's own root-only build root only; a partial image never reaches the
 * store (builds rename into it as their last step). Tools the dead privhelper started (mkfs.ext4
 * writing a partial image, a chroot step) outlive it: whatever still works inside the build
 * root (its cwd, root or an open file there; only root can reach that 0700 directory) is
 * SIGKILLed first, so nothing writes into a tree being removed.
 */
export async function sweepBuildDir(buildDir: string, log: Logger, killUsers: (dir: string) => Promise<number[]>): Promise<string[]> {
  const left = await readdir(buildDir).catch(() => [] as string[]);
  const tools = left.length > 0 ? await killUsers(buildDir) : [];
  if (tools.length > 0) log.warn({ build_dir: buildDir, pids: tools }, 'build tools of a previous privhelper killed');
  for (const name of left) await rm(path.join(buildDir, name), { recursive: true, force: true });
  if (left.length > 0) log.warn({ build_dir: buildDir, removed: left }, 'partial builds of a previous privhelper removed');
  return left;
}
