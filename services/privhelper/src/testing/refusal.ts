import { toBangerError, type BangerError } from '@banger/runtime/errors';

/**
 * The error a call failed with, as it would go out on the wire (code, reason, fields), so a
 * test of an adapter checks what a caller would see; a call that succeeds fails the test.
 */
export async function refusal(p: Promise<unknown>): Promise<BangerError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (err === undefined) throw new Error('expected a refusal, but the call succeeded');
  return toBangerError(err);
}
