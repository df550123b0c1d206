import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';

/** Blocks the named files occupy (sparse files count what they hold, not their length); absent ones count 0. */
export async function allocatedBytesOf(files: readonly string[]): Promise<number> {
  let total = 0;
  for (const f of files) {
    const st = await lstat(f).catch(() => undefined);
    if (st?.isFile()) total += st.blocks * 512;
  }
  return total;
}

/** Blocks the files directly in a directory occupy. */
export async function allocatedBytes(dir: string): Promise<number> {
  return allocatedBytesOf((await readdir(dir)).map((n) => path.join(dir, n)));
}
