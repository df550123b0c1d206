import { ResourceExhaustedError } from '@banger/runtime/errors';
import { invalid } from './errors.js';

/**
 * A configured bound: below the minimum is the caller's mistake (INVALID_ARGUMENT
 * OUT_OF_RANGE); above the maximum asks for more than this host grants (RESOURCE_EXHAUSTED),
 * naming exactly the config key that was crossed.
 */
export function withinBounds(field: string, v: number, min: number, max: number, keys: { min: string; max: string }): number {
  if (v < min) throw invalid(field, 'OUT_OF_RANGE', `${field} ${v} is below the minimum ${min} (${keys.min})`);
  if (v > max) {
    throw new ResourceExhaustedError('VM_LIMIT_EXCEEDED', `${field} ${v} is above the maximum ${max} (${keys.max})`, { fields: { field, limit: keys.max, max } });
  }
  return v;
}
