import { randomBytes } from 'node:crypto';

/**
 * Op ids correlate one user action across the CLI, every daemon and the root helper.
 * Format: `op-` followed by 12 lowercase RFC 4648 base32 characters (60 random bits).
 */
export const OP_ID_PATTERN = /^op-[a-z2-7]{12}$/;

/** gRPC metadata key that carries the op id in both directions. */
export const OP_ID_METADATA_KEY = 'x-op-id';

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';

export function mintOpId(): string {
  const bytes = randomBytes(12);
  let out = 'op-';
  for (const byte of bytes) out += ALPHABET[byte & 31];
  return out;
}

export function isValidOpId(value: unknown): value is string {
  return typeof value === 'string' && OP_ID_PATTERN.test(value);
}

/** Adopts a well-formed inbound id; anything else (absent, malformed, wrong type) gets a fresh one. */
export function adoptOrMintOpId(inbound: unknown): { opId: string; adopted: boolean } {
  if (isValidOpId(inbound)) return { opId: inbound, adopted: true };
  return { opId: mintOpId(), adopted: false };
}
