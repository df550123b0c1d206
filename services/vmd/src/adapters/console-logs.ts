import { constants } from 'node:fs';
import type { Stats } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import type { ConsoleCursor, ConsoleLogs } from '../ports/console.js';

const EMPTY = Buffer.alloc(0);

/**
 * Which file this is: the inode with its birth time, since a rotation unlinks a file and the
 * next one created may get the same inode number.
 */
function identity(st: Stats): string {
  return `${st.dev}:${st.ino}:${st.birthtimeMs}`;
}

/**
 * Bytes [from, to) of `path`, read through one descriptor, clamped to its size; undefined when
 * it is missing or is no longer the file `file` names (see identity: rotated or replaced since).
 */
async function readRange(path: string, file: string | undefined, from: number, to: number): Promise<Buffer | undefined> {
  const fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK).catch(() => undefined);
  if (!fh) return undefined;
  try {
    const st = await fh.stat();
    if (!st.isFile() || (file !== undefined && identity(st) !== file)) return undefined;
    const end = Math.min(to, st.size);
    if (end <= from) return EMPTY;
    const buf = Buffer.alloc(end - from);
    const { bytesRead } = await fh.read(buf, 0, buf.length, from);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/** A position in one console log, by file identity and offset, that survives the jailer's rotation. */
class FileConsoleCursor implements ConsoleCursor {
  constructor(
    private readonly path: string,
    private file: string | undefined,
    private offset: number,
  ) {}

  async tail(maxBytes: number): Promise<{ data: Buffer; cut: boolean }> {
    if (this.file === undefined) return { data: EMPTY, cut: false };
    const start = Math.max(0, this.offset - maxBytes);
    const cur = (await readRange(this.path, this.file, start, this.offset)) ?? EMPTY;
    if (start > 0) return { data: cur, cut: true };
    const want = maxBytes - cur.length;
    const prevSize = (await stat(`${this.path}.1`).catch(() => undefined))?.size ?? 0;
    const prev = want > 0 && prevSize > 0 ? ((await readRange(`${this.path}.1`, undefined, Math.max(0, prevSize - want), prevSize)) ?? EMPTY) : EMPTY;
    return { data: prev.length > 0 ? Buffer.concat([prev, cur]) : cur, cut: prevSize > want };
  }

  async next(maxBytes: number): Promise<Buffer> {
    const st = await stat(this.path).catch(() => undefined);
    if (this.file !== undefined && (st ? identity(st) : undefined) !== this.file) {
      // Rotated away: the rest of the old file, now PATH.1 if it has not been rotated out too.
      const rest = await readRange(`${this.path}.1`, this.file, this.offset, this.offset + maxBytes);
      if (rest && rest.length > 0) {
        this.offset += rest.length;
        return rest;
      }
      this.file = st ? identity(st) : undefined;
      this.offset = 0;
    }
    if (!st) return EMPTY;
    if (this.file === undefined) this.file = identity(st);
    if (st.size < this.offset) this.offset = 0;
    const data = await readRange(this.path, this.file, this.offset, this.offset + maxBytes);
    if (!data) return EMPTY;
    this.offset += data.length;
    return data;
  }
}

/** Console logs as files privhelper's jailer shares with vmd's group. */
export class FileConsoleLogs implements ConsoleLogs {
  async open(path: string): Promise<ConsoleCursor> {
    const st = await stat(path).catch(() => undefined);
    return new FileConsoleCursor(path, st ? identity(st) : undefined, st?.size ?? 0);
  }
}
