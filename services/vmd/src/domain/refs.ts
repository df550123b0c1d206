import { validateRef, type RefRule } from '@banger/runtime/ids';

/**
 * What a user may type to name a VM: a name, an id or an id prefix. Names are DNS labels and ids
 * hex, so nothing longer than a label or outside these characters can match; such input is
 * refused before it reaches a query (capitals are let through so they still answer NOT_FOUND).
 */
export const VM_REF_RULE: RefRule = { entity: 'vm', maxLength: 64, pattern: /^[A-Za-z0-9._-]+$/, allowed: 'a VM name, id or id prefix' };

/** Image and kernel references vmd passes on to imaged. */
export const IMAGE_REF_RULE: RefRule = { entity: 'image', maxLength: 128, pattern: /^[A-Za-z0-9._:@+-]+$/, allowed: 'an image name or id' };
export const KERNEL_REF_RULE: RefRule = { entity: 'kernel', maxLength: 128, pattern: /^[A-Za-z0-9._:@+-]+$/, allowed: 'a kernel name' };

export function validateVmRef(ref: string, field = 'ref'): string {
  return validateRef(ref, field, VM_REF_RULE);
}
