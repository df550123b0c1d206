import { randomBytes } from 'node:crypto';

/**
 * Op ids correlate one user action across the CLI, every daemon and the root helper.
 * Format: `op-` followed by 12 lowercase RFC 4648 base32 characters (60 random bits).
 */
export const OP_ID_PATTERN = /^op-[a-z2-7]{12}$/;

/** gRPC metadata key that carries the op id in both directions. */
export const OP_ID_METADATA_KEY = 'x-op-id';

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';

// One call into the CSPRNG per 256 ids instead of one per id: minting is on every RPC's path.
const POOL_IDS = 256;
let pool = Buffer.alloc(0);
let offset = 0;

export function mintOpId(): string {
  if (offset + 12 > pool.length) {
    pool = randomBytes(12 * POOL_IDS);
    offset = 0;
  }
  let out = 'op-';
  for (let i = offset; i < offset + 12; i++) out += ALPHABET[(pool[i] ?? 0) & 31];
  offset += 12;
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
