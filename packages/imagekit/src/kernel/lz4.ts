import { ImageKitError } from '../errors.js';

function corrupt(why: string): ImageKitError {
  return new ImageKitError('INVALID_ARGUMENT', 'BAD_KERNEL_IMAGE', `corrupt lz4 payload: ${why}`);
}

/** Decompresses one raw LZ4 block into `out` at `outPos`; returns the new output position. */
export function lz4Block(src: Buffer, start: number, end: number, out: Buffer, outPos: number): number {
  let i = start;
  let o = outPos;
  while (i < end) {
    const token = src[i++] as number;
    let lit = token >>> 4;
    if (lit === 15) {
      let b: number;
      do {
        if (i >= end) throw corrupt('literal length overruns block');
        b = src[i++] as number;
        lit += b;
      } while (b === 255);
    }
    if (i + lit > end || o + lit > out.length) throw corrupt('literal overruns buffer');
    src.copy(out, o, i, i + lit);
    i += lit;
    o += lit;
    if (i >= end) break;
    const offset = (src[i] as number) | ((src[i + 1] as number) << 8);
    i += 2;
    if (offset === 0 || offset > o) throw corrupt('bad match offset');
    let len = token & 15;
    if (len === 15) {
      let b: number;
      do {
        if (i >= end) throw corrupt('match length overruns block');
        b = src[i++] as number;
        len += b;
      } while (b === 255);
    }
    len += 4;
    if (o + len > out.length) throw corrupt('match overruns buffer');
    for (let k = 0; k < len; k++, o++) out[o] = out[o - offset] as number;
  }
  return o;
}

const LEGACY_MAGIC = 0x184c2102;

/**
 * Decompresses the LZ4 "legacy" frame the kernel build uses for bzImage payloads
 * (Debian's kernels are built with CONFIG_KERNEL_LZ4). `expectedSize` comes from the
 * size the kernel build appends to the payload.
 */
export function lz4LegacyDecompress(payload: Buffer, expectedSize: number): Buffer {
  if (payload.readUInt32LE(0) !== LEGACY_MAGIC) throw corrupt('missing legacy magic');
  const out = Buffer.alloc(expectedSize);
  let i = 4;
  let o = 0;
  while (i + 4 <= payload.length) {
    const size = payload.readUInt32LE(i);
    if (size === LEGACY_MAGIC) {
      i += 4;
      continue;
    }
    if (i + 4 + size > payload.length || size === 0) break;
    o = lz4Block(payload, i + 4, i + 4 + size, out, o);
    i += 4 + size;
    if (o === out.length) break;
  }
  if (o !== expectedSize) throw corrupt(`decompressed ${o} bytes, expected ${expectedSize}`);
  return out;
}
