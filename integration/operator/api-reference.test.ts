import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BUF_CURL_EXAMPLE } from '@banger/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bufBinary, createStack, REPO_ROOT, type Stack } from '../harness/daemons.js';

/** Runs a shell line with buf from node_modules first on PATH, as a reader of the docs would. */
function sh(line: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('/bin/bash', ['-c', line], { env: { ...process.env, PATH: `${join(bufBinary(), '..')}:${process.env['PATH'] ?? ''}` } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('docs/api.md', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await createStack();
    await stack.start('imaged');
    await stack.start('vmd');
  });
  afterAll(async () => stack?.close());

  it("shows the buf curl example, and that exact command streams CreateVm through vmd's reflection", async () => {
    expect(await readFile(join(REPO_ROOT, 'docs', 'api.md'), 'utf8')).toContain(BUF_CURL_EXAMPLE);
    // The documented line, pointed at this stack's socket and at an image that does not exist,
    // so the create ends at once in preflight (no VM is booted): accepted, then the failure, then the status.
    const line = BUF_CURL_EXAMPLE.replace('/run/banger/vmd.sock', stack.socket('vmd')).replace('"debian-bookworm"', '"no-such-image"');
    expect(line).not.toBe(BUF_CURL_EXAMPLE);
    const res = await sh(line);
    const events = res.stdout
      .split(/\n(?=\{)/)
      .filter((s) => s.trim())
      .map((s) => JSON.parse(s) as { event?: Record<string, unknown> });
    expect(events[0]?.event?.['accepted']).toMatchObject({ kind: 'OPERATION_KIND_VM_CREATE', target: 'dev' });
    expect(events.at(-1)?.event?.['failure']).toMatchObject({ stage: 'preflight', reason: expect.stringMatching(/^[A-Z][A-Z_]+$/), opId: expect.stringMatching(/^op-/) });
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(/unavailable|not_found|failed_precondition/i);
  });
});
