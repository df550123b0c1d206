import { constants as fsc } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import path from 'node:path';
import { toolMissing, toolNotExecutable } from './errors.js';
import { PINNED_PATH } from './env.js';

async function executable(file: string): Promise<'yes' | 'no' | 'absent'> {
  const st = await stat(file).catch(() => undefined);
  if (st === undefined || !st.isFile()) return 'absent';
  return access(file, fsc.X_OK).then(() => 'yes' as const, () => 'no' as const);
}

/**
 * Finds `file` the way execvp would, on the given PATH (the pinned one by default), and
 * returns its absolute path. Resolving before spawning gives TOOL_MISSING/TOOL_NOT_EXECUTABLE
 * even when the tool runs behind a wrapper (setpriv) whose own exec error would be an exit code.
 * A name with a slash is taken relative to `cwd`, as the child would see it.
 */
export async function resolveTool(file: string, searchPath: string = PINNED_PATH, cwd: string = process.cwd()): Promise<string> {
  if (file === '' || file.includes('\0')) throw new TypeError(`not a program name: ${JSON.stringify(file)}`);
  if (file.includes('/')) {
    const abs = path.resolve(cwd, file);
    const r = await executable(abs);
    if (r === 'yes') return abs;
    throw r === 'no' ? toolNotExecutable(file) : toolMissing(file);
  }
  let denied = false;
  for (const dir of searchPath.split(':')) {
    if (!path.isAbsolute(dir)) continue;
    const cand = path.join(dir, file);
    const r = await executable(cand);
    if (r === 'yes') return cand;
    if (r === 'no') denied = true;
  }
  throw denied ? toolNotExecutable(file) : toolMissing(file);
}
