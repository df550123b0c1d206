import { MAX_REPLY_BYTES } from '@banger/runtime';
import { describe, expect, it } from 'vitest';
import { MAX_EXEC_OUTPUT_BYTES } from '../../domain/guest-command.js';
import { checkedExecReply } from './exec-reply.js';

const reply = (outBytes: number, errBytes: number): Parameters<typeof checkedExecReply>[0] => ({
  status: { exitCode: -(2 ** 31), signal: 'SIGRTMAX-15', timedOut: true, durationMs: Number.MAX_SAFE_INTEGER },
  stdout: Buffer.alloc(outBytes, 0x61),
  stderr: Buffer.alloc(errBytes, 0x62),
  stdoutTruncated: true,
  stderrTruncated: true,
});

describe('the ExecVm reply limit', () => {
  it('lets through the largest reply exec can make (both streams at the most a request may ask for)', () => {
    expect(() => checkedExecReply(reply(MAX_EXEC_OUTPUT_BYTES, MAX_EXEC_OUTPUT_BYTES))).not.toThrow();
  });

  it('refuses a reply past the limit clients accept, naming the limit, before anything is sent', () => {
    const half = MAX_REPLY_BYTES / 2;
    expect(() => checkedExecReply(reply(half, half))).toThrow(
      expect.objectContaining({ code: 'RESOURCE_EXHAUSTED', reason: 'EXEC_REPLY_TOO_LARGE', message: expect.stringContaining(`more than the ${MAX_REPLY_BYTES} a reply may carry`) }),
    );
  });
});
