import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { EXIT, exitCodeForStatus } from './exit-codes.js';

describe('exitCodeForStatus', () => {
  it.each([
    [status.OK, 0],
    [status.CANCELLED, 1],
    [status.UNKNOWN, 1],
    [status.INVALID_ARGUMENT, 2],
    [status.DEADLINE_EXCEEDED, 8],
    [status.NOT_FOUND, 3],
    [status.ALREADY_EXISTS, 4],
    [status.PERMISSION_DENIED, 6],
    [status.RESOURCE_EXHAUSTED, 10],
    [status.FAILED_PRECONDITION, 5],
    [status.ABORTED, 4],
    [status.OUT_OF_RANGE, 2],
    [status.UNIMPLEMENTED, 9],
    [status.INTERNAL, 1],
    [status.UNAVAILABLE, 7],
    [status.DATA_LOSS, 1],
    [status.UNAUTHENTICATED, 6],
  ])('gRPC status %i exits %i', (code, exit) => {
    expect(exitCodeForStatus(code)).toBe(exit);
  });

  it('maps codes it does not know to the generic failure', () => {
    expect(exitCodeForStatus(99)).toBe(EXIT.GENERIC);
  });

  it('keeps the README table in step with the mapping', async () => {
    const { readFile } = await import('node:fs/promises');
    const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');
    for (const [name, code] of Object.entries(EXIT)) {
      expect(readme, `README documents exit code ${code} (${name})`).toMatch(new RegExp(`^\\| ${code} \\|`, 'm'));
    }
  });
});
