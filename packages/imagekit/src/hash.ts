import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { ImageKitError } from './errors.js';

export async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

export function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Fails with CHECKSUM_MISMATCH when a pinned digest is given and differs from the real one. */
export function checkPinned(artifact: string, actual: string, expected: string | undefined): void {
  if (expected !== undefined && expected !== actual) {
    throw new ImageKitError(
      'FAILED_PRECONDITION',
      'CHECKSUM_MISMATCH',
      `${artifact}: sha256 ${actual} does not match the pinned ${expected}`,
      { artifact, expected, actual },
    );
  }
}
