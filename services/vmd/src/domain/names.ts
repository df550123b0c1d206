import { InvalidArgumentError } from '@banger/runtime/errors';

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * VM names become DNS names (`NAME.vm`), so they follow RFC 1123 label rules: 1-63
 * characters, lowercase letters, digits and hyphens, not starting or ending with a hyphen.
 */
export function validateVmName(name: string, field = 'name'): string {
  if (name.length === 0) throw new InvalidArgumentError(field, 'is required', 'NAME_REQUIRED');
  if (name.length > 63) throw new InvalidArgumentError(field, `must be at most 63 characters, got ${name.length}`, 'NAME_TOO_LONG');
  if (!LABEL.test(name)) {
    throw new InvalidArgumentError(
      field,
      `${JSON.stringify(name)} is not a valid DNS label: use lowercase letters, digits and hyphens, not starting or ending with a hyphen`,
      'INVALID_NAME',
    );
  }
  return name;
}
