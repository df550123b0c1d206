import { vmv1 } from '@banger/api';
import { MAX_REPLY_BYTES, ResourceExhaustedError } from '@banger/runtime';

/**
 * Refuses an ExecVm reply larger than any banger client accepts, naming the limit, before it
 * is sent: a client would otherwise see grpc's own RESOURCE_EXHAUSTED with no reason or op id.
 * At the largest max_output_bytes the reply fits (exec-reply.test.ts), so this guards the two
 * limits against drifting apart.
 */
export function checkedExecReply(reply: vmv1.ExecVmResponse): vmv1.ExecVmResponse {
  const size = vmv1.ExecVmResponse.encode(reply).finish().length;
  if (size > MAX_REPLY_BYTES) {
    throw new ResourceExhaustedError('EXEC_REPLY_TOO_LARGE', `the reply would be ${size} bytes, more than the ${MAX_REPLY_BYTES} a reply may carry: ask for less output (max_output_bytes) or use StreamExecVm`, {
      fields: { size, limit: MAX_REPLY_BYTES },
    });
  }
  return reply;
}
