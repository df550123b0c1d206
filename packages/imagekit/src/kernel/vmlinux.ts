import { gunzipSync } from 'node:zlib';
import { ImageKitError } from '../errors.js';
import { isProcError, run } from '@banger/proc';
import { toolOptions } from '../tool-options.js';
import { lz4LegacyDecompress } from './lz4.js';

export type PayloadCompression = 'gzip' | 'xz' | 'zstd' | 'lz4';

const MAGICS: readonly { kind: PayloadCompression; magic: Buffer }[] = [
  { kind: 'gzip', magic: Buffer.from([0x1f, 0x8b, 0x08]) },
  { kind: 'xz', magic: Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]) },
  { kind: 'zstd', magic: Buffer.from([0x28, 0xb5, 0x2f, 0xfd]) },
  { kind: 'lz4', magic: Buffer.from([0x02, 0x21, 0x4c, 0x18]) },
];

/** An uncompressed x86 kernel is tens of MB; more than this is not a kernel. */
const MAX_VMLINUX_BYTES = 512 * 1024 * 1024;

const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);

function bad(why: string): ImageKitError {
  return new ImageKitError('INVALID_ARGUMENT', 'BAD_KERNEL_IMAGE', `cannot extract vmlinux: ${why}`);
}

/**
 * Locates the compressed kernel inside a bzImage: from the boot protocol header
 * (payload_offset/payload_length, protocol >= 2.08), else by scanning for a known magic.
 */
export function findPayload(bz: Buffer): { kind: PayloadCompression; payload: Buffer } {
  if (bz.length > 0x250 && bz.toString('latin1', 0x202, 0x206) === 'HdrS') {
    const setupSects = bz[0x1f1] || 4;
    const start = (setupSects + 1) * 512 + bz.readUInt32LE(0x248);
    const len = bz.readUInt32LE(0x24c);
    if (len > 0 && start + len <= bz.length) {
      const payload = bz.subarray(start, start + len);
      const m = MAGICS.find((x) => payload.subarray(0, x.magic.length).equals(x.magic));
      if (m) return { kind: m.kind, payload };
    }
  }
  for (const m of MAGICS) {
    const at = bz.indexOf(m.magic);
    if (at >= 0) return { kind: m.kind, payload: bz.subarray(at) };
  }
  throw bad('no gzip/xz/zstd/lz4 payload found');
}

async function viaCli(cmd: string, args: string[], payload: Buffer): Promise<Buffer> {
  try {
    return (await run(cmd, args, { ...toolOptions(undefined, { input: payload, maxStdout: MAX_VMLINUX_BYTES }), encoding: 'buffer' })).stdout;
  } catch (e) {
    // xz/zstd may complain about the size word appended after the stream; the ELF check decides.
    if (isProcError(e, 'TOOL_FAILED')) {
      throw bad(`${cmd} could not decompress the payload: ${e.message}`);
    }
    throw e;
  }
}

/** Extracts the uncompressed ELF vmlinux (QEMU microvm boots it via PVH) from a bzImage. */
export async function extractVmlinux(bz: Buffer): Promise<Buffer> {
  const { kind, payload } = findPayload(bz);
  const appendedSize = payload.readUInt32LE(payload.length - 4);
  let elf: Buffer;
  switch (kind) {
    case 'gzip':
      try {
        elf = gunzipSync(payload.subarray(0, payload.length - 4));
      } catch (e) {
        throw bad(`gzip payload is corrupt: ${(e as Error).message}`);
      }
      break;
    case 'xz':
      elf = await viaCli('xz', ['-dc', '--single-stream', '-q'], payload);
      break;
    case 'zstd':
      elf = await viaCli('zstd', ['-dcq'], payload.subarray(0, payload.length - 4));
      break;
    case 'lz4':
      elf = lz4LegacyDecompress(payload, appendedSize);
      break;
  }
  if (!elf.subarray(0, 4).equals(ELF_MAGIC)) throw bad(`${kind} payload did not decompress to an ELF image`);
  return elf;
}
