import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import path from 'node:path';

/** A device node to add without needing mknod on the host (e.g. dev/console). */
export interface CpioDevice {
  path: string;
  type: 'c' | 'b';
  major: number;
  minor: number;
  mode?: number;
}

function header(ino: number, mode: number, nlink: number, size: number, rmaj: number, rmin: number, nameLen: number): string {
  const f = (n: number): string => n.toString(16).padStart(8, '0');
  // c_magic ino mode uid gid nlink mtime filesize devmajor devminor rdevmajor rdevminor namesize check
  return `070701${f(ino)}${f(mode)}${f(0)}${f(0)}${f(nlink)}${f(0)}${f(size)}${f(0)}${f(0)}${f(rmaj)}${f(rmin)}${f(nameLen)}${f(0)}`;
}

const pad4 = (n: number): Buffer => Buffer.alloc((4 - (n % 4)) % 4);

/**
 * Writes a deterministic "newc" cpio archive of `dir` (owner root, mtime 0, sorted), the format
 * the kernel unpacks as an initramfs. Done in-process so no shell pipeline is needed.
 */
export async function buildCpio(dir: string, devices: readonly CpioDevice[] = []): Promise<Buffer> {
  const parts: Buffer[] = [];
  let ino = 1;
  const add = (name: string, mode: number, data: Buffer, nlink: number, rmaj = 0, rmin = 0): void => {
    const nameBuf = Buffer.from(`${name}\0`);
    const h = Buffer.from(header(ino++, mode, nlink, data.length, rmaj, rmin, nameBuf.length), 'ascii');
    parts.push(h, nameBuf, pad4(h.length + nameBuf.length), data, pad4(data.length));
  };
  const walk = async (rel: string): Promise<void> => {
    const entries = (await readdir(path.join(dir, rel))).sort();
    for (const e of entries) {
      const r = rel === '' ? e : `${rel}/${e}`;
      const full = path.join(dir, r);
      const st = await lstat(full);
      const perm = st.mode & 0o7777;
      if (st.isDirectory()) {
        add(r, 0o040000 | perm, Buffer.alloc(0), 2);
        await walk(r);
      } else if (st.isSymbolicLink()) {
        add(r, 0o120777, Buffer.from(await readlink(full)), 1);
      } else if (st.isFile()) {
        add(r, 0o100000 | perm, await readFile(full), 1);
      }
    }
  };
  await walk('');
  for (const d of devices) {
    add(d.path, (d.type === 'c' ? 0o020000 : 0o060000) | (d.mode ?? 0o600), Buffer.alloc(0), 1, d.major, d.minor);
  }
  add('TRAILER!!!', 0, Buffer.alloc(0), 1);
  return Buffer.concat(parts);
}
