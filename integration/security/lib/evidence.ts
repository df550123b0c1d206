import { appendFileSync } from 'node:fs';
import { expect } from 'vitest';

/**
 * What refused an attack or what the host check saw, one line per test, for RESULTS-after.md.
 * Written to the file named by BANGER_SECURITY_EVIDENCE (JSON lines) when it is set; always
 * printed, so a CI log carries it too.
 */
export function evidence(line: string): void {
  const test = expect.getState().currentTestName ?? '?';
  console.info(`[evidence] ${test}: ${line}`);
  const file = process.env['BANGER_SECURITY_EVIDENCE'];
  if (file) appendFileSync(file, `${JSON.stringify({ file: expect.getState().testPath ?? '', test, line })}\n`);
}
