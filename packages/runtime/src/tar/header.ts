import { InvalidArgumentError } from '../errors.js';

export const BLOCK = 512;

/** The entry kinds banger moves; anything else (devices, fifos) is refused by the checks. */
export type TarKind = 'file' | 'dir' | 'symlink' | 'hardlink' | 'other';

/** One archive member as its headers (including pax and GNU long names) describe it. */
export interface TarEntry {
  path: string;
  kind: TarKind;
  /** The raw type flag, for messages about refused kinds. */
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  linkname: string;
}

/** Raw header fields before pax/GNU overrides. */
export interface RawHeader {
  name: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  linkname: string;
}

function cstring(block: Buffer, start: number, len: number): string {
  const field = block.subarray(start, start + len);
  const nul = field.indexOf(0);
  return field.subarray(0, nul < 0 ? len : nul).toString('utf8');
}

/** A numeric field: octal text, or GNU base-256 (high bit set) for large values. */
function numeric(block: Buffer, start: number, len: number, field: string): number {
  const raw = block.subarray(start, start + len);
  if (raw[0] !== undefined && (raw[0] & 0x80) !== 0) {
    let n = raw[0] & 0x7f;
    for (let i = 1; i < raw.length; i++) n = n * 256 + (raw[i] ?? 0);
    if (!Number.isSafeInteger(n)) throw new InvalidArgumentError('archive', `${field} is out of range`, 'TAR_MALFORMED');
    return n;
  }
  const text = raw.toString('latin1').replace(/[\0 ]+$/, '').replace(/^[ ]+/, '');
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw new InvalidArgumentError('archive', `${field} is not an octal number`, 'TAR_MALFORMED');
  return parseInt(text, 8);
}

export function isZeroBlock(block: Buffer): boolean {
  for (const b of block) if (b !== 0) return false;
  return true;
}

/** Parses one 512-byte header, checking its checksum. */
export function parseHeader(block: Buffer): RawHeader {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : (block[i] ?? 0);
  if (numeric(block, 148, 8, 'checksum') !== sum) throw new InvalidArgumentError('archive', 'header checksum mismatch (not a tar stream, or corrupted)', 'TAR_MALFORMED');
  const magic = block.subarray(257, 263).toString('latin1');
  const prefix = magic.startsWith('ustar') && magic !== 'ustar ' ? cstring(block, 345, 155) : '';
  const name = cstring(block, 0, 100);
  return {
    name: prefix ? `${prefix}/${name}` : name,
    type: String.fromCharCode(block[156] ?? 0),
    mode: numeric(block, 100, 8, 'mode') & 0o7777,
    uid: numeric(block, 108, 8, 'uid'),
    gid: numeric(block, 116, 8, 'gid'),
    size: numeric(block, 124, 12, 'size'),
    mtime: numeric(block, 136, 12, 'mtime'),
    linkname: cstring(block, 157, 100),
  };
}

export function kindOf(type: string): TarKind {
  if (type === '0' || type === '\0' || type === '7') return 'file';
  if (type === '5') return 'dir';
  if (type === '2') return 'symlink';
  if (type === '1') return 'hardlink';
  return 'other';
}

/** Parses pax extended-header records (`LEN key=value\n`). */
export function parsePax(body: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  let at = 0;
  while (at < body.length) {
    const space = body.indexOf(0x20, at);
    if (space < 0) break;
    const len = Number(body.subarray(at, space).toString('latin1'));
    if (!Number.isInteger(len) || len <= 0 || at + len > body.length) throw new InvalidArgumentError('archive', 'malformed pax header', 'TAR_MALFORMED');
    const record = body.subarray(space + 1, at + len - 1).toString('utf8');
    const eq = record.indexOf('=');
    if (eq > 0) out.set(record.slice(0, eq), record.slice(eq + 1));
    at += len;
  }
  return out;
}

function octal(n: number, len: number): string {
  return `${n.toString(8).padStart(len - 1, '0')}\0`;
}

/** One ustar header block; names longer than 100 bytes need a GNU 'L' entry first (see tarHeaders). */
function encodeBlock(h: RawHeader): Buffer {
  const b = Buffer.alloc(BLOCK);
  b.write(h.name, 0, 100, 'utf8');
  b.write(octal(h.mode, 8), 100, 'latin1');
  b.write(octal(h.uid, 8), 108, 'latin1');
  b.write(octal(h.gid, 8), 116, 'latin1');
  b.write(octal(h.size, 12), 124, 'latin1');
  b.write(octal(h.mtime, 12), 136, 'latin1');
  b.write('        ', 148, 'latin1');
  b.write(h.type, 156, 'latin1');
  b.write(h.linkname, 157, 100, 'utf8');
  b.write('ustar  \0', 257, 'latin1');
  let sum = 0;
  for (const x of b) sum += x;
  b.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return b;
}

/** The header blocks of one entry (GNU long name/link entries first when needed). */
export function tarHeaders(h: RawHeader): Buffer {
  const parts: Buffer[] = [];
  const long = (type: string, value: string): void => {
    const data = Buffer.from(`${value}\0`, 'utf8');
    parts.push(encodeBlock({ name: '././@LongLink', type, mode: 0, uid: 0, gid: 0, size: data.length, mtime: 0, linkname: '' }), data, Buffer.alloc(padding(data.length)));
  };
  if (Buffer.byteLength(h.linkname) > 100) long('K', h.linkname);
  if (Buffer.byteLength(h.name) > 100) long('L', h.name);
  parts.push(encodeBlock(h));
  return Buffer.concat(parts);
}

/** Zero bytes after `size` bytes of data up to the next block. */
export function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

/** The two zero blocks that end an archive. */
export const TAR_END = Buffer.alloc(2 * BLOCK);
