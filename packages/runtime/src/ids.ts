import { excerpt, InvalidArgumentError } from './errors.js';
import { OP_ID_PATTERN } from './opid.js';

/** VM ids as every daemon accepts them: 1-64 of [a-z0-9-], not starting or ending with "-". */
export const VM_ID_PATTERN = /^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/;

/**
 * The one VM id check of banger (vmd mints them, privhelper derives paths and names from
 * them). Unknown input types are refused like bad strings.
 */
export function validateVmId(v: unknown, field = 'vm_id'): string {
  if (typeof v !== 'string' || !VM_ID_PATTERN.test(v)) {
    throw new InvalidArgumentError(field, 'must be 1-64 characters of [a-z0-9-], not starting or ending with -', 'BAD_VM_ID');
  }
  return v;
}

/** How one kind of reference (a VM, an image, a kernel) may be spelled. */
export interface RefRule {
  /** Label used in reasons and messages: 'vm' → VM_REF_TOO_LONG. */
  entity: string;
  maxLength: number;
  pattern: RegExp;
  /** What the pattern allows, for the error message. */
  allowed: string;
}

/** C0 and C1 control characters (NUL, newline, escape...), which never belong in a name. */
function hasControl(value: string): boolean {
  for (const ch of value) {
    const c = ch.codePointAt(0) ?? 0;
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) return true;
  }
  return false;
}

/**
 * Checks what a caller typed to name something before it reaches a query or an error: not
 * empty (unless allowed), bounded, no control characters, the entity's characters. The value
 * is echoed only as a short excerpt, so a huge or binary reference never makes a huge error.
 */
export function validateRef(value: string, field: string, rule: RefRule, opts: { allowEmpty?: boolean } = {}): string {
  const upper = rule.entity.toUpperCase();
  if (value === '') {
    if (opts.allowEmpty) return value;
    throw new InvalidArgumentError(field, `empty ${rule.entity} reference`, `${upper}_REF_EMPTY`);
  }
  if (value.length > rule.maxLength) {
    throw new InvalidArgumentError(field, `${rule.entity} reference must be at most ${rule.maxLength} characters, got ${value.length}`, `${upper}_REF_TOO_LONG`);
  }
  if (hasControl(value)) throw new InvalidArgumentError(field, `${rule.entity} reference must not contain control characters`, `${upper}_REF_INVALID`);
  if (!rule.pattern.test(value)) {
    throw new InvalidArgumentError(field, `${excerpt(value)} is not a valid ${rule.entity} reference: use ${rule.allowed}`, `${upper}_REF_INVALID`);
  }
  return value;
}

/** An op id named in a request (GetOperation, WatchOperation...), checked before any lookup. */
export function validateOpId(v: string, field = 'op_id'): string {
  if (v === '') throw new InvalidArgumentError(field, 'is required', 'OP_ID_REQUIRED');
  if (!OP_ID_PATTERN.test(v)) throw new InvalidArgumentError(field, `${excerpt(v, 24)} is not an op id (op- and 12 base32 characters)`, 'INVALID_OP_ID');
  return v;
}

/** Operation targets (a VM or image name, a kernel) as ListOperations may filter on them. */
export const TARGET_RULE: RefRule = { entity: 'target', maxLength: 128, pattern: /^[A-Za-z0-9._:@+-]+$/, allowed: 'a name or id' };
