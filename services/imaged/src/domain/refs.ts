import { validateRef, type RefRule } from '@banger/runtime/ids';

/**
 * What a caller may type to name an image (a name, an id or an id prefix) or a kernel, checked
 * before any query or lookup, so a NUL byte or a 5,000-character reference is refused naming
 * the field instead of reaching PostgreSQL or an error's trailers. Recipe names are checked by
 * the recipe loader (BAD_RECIPE_NAME) before any file is read.
 */
export const IMAGE_REF_RULE: RefRule = { entity: 'image', maxLength: 128, pattern: /^[A-Za-z0-9._:@+-]+$/, allowed: 'an image name, id or id prefix' };
export const KERNEL_REF_RULE: RefRule = { entity: 'kernel', maxLength: 128, pattern: /^[A-Za-z0-9._:@+-]+$/, allowed: 'a kernel name' };

export function validateImageRef(ref: string, field = 'ref', opts: { allowEmpty?: boolean } = {}): string {
  return validateRef(ref, field, IMAGE_REF_RULE, opts);
}

export function validateKernelName(name: string, field = 'name', opts: { allowEmpty?: boolean } = {}): string {
  return validateRef(name, field, KERNEL_REF_RULE, opts);
}
