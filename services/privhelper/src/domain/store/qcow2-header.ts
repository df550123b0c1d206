/**
 * The part of a qcow2 header that decides which host files QEMU opens. privhelper pins every
 * disk's backing chain itself, but qcow2's external data file is named in the header and
 * opened by QEMU unless refused here, so an overlay whose header asks for one (or for a
 * feature this check does not know) is not launched.
 */

export const QCOW2_MAGIC = 0x514649fb;
export const QCOW2_HEADER_BYTES = 104;
const INCOMPAT_DIRTY = 1n << 0n;
const INCOMPAT_CORRUPT = 1n << 1n;
const INCOMPAT_DATA_FILE = 1n << 2n;
const INCOMPAT_COMPRESSION = 1n << 3n;
const INCOMPAT_EXTL2 = 1n << 4n;
const KNOWN_SAFE = INCOMPAT_DIRTY | INCOMPAT_COMPRESSION | INCOMPAT_EXTL2;

export type Qcow2Verdict = { ok: true; version: number } | { ok: false; why: string };

export function checkQcow2Header(buf: Uint8Array): Qcow2Verdict {
  if (buf.length < 72) return { ok: false, why: 'header is truncated' };
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (view.getUint32(0) !== QCOW2_MAGIC) return { ok: false, why: 'not a qcow2 image' };
  const version = view.getUint32(4);
  if (version !== 2 && version !== 3) return { ok: false, why: `qcow2 version ${version} is not supported` };
  if (view.getUint32(32) !== 0) return { ok: false, why: 'encrypted qcow2 images are not supported' };
  if (version === 3) {
    if (buf.length < QCOW2_HEADER_BYTES) return { ok: false, why: 'header is truncated' };
    const incompat = view.getBigUint64(72);
    if ((incompat & INCOMPAT_DATA_FILE) !== 0n) return { ok: false, why: 'header names an external data file' };
    if ((incompat & INCOMPAT_CORRUPT) !== 0n) return { ok: false, why: 'image is marked corrupt' };
    if ((incompat & ~KNOWN_SAFE) !== 0n) return { ok: false, why: `unknown incompatible features 0x${incompat.toString(16)}` };
  }
  return { ok: true, version };
}
