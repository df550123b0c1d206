import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from './run.js';

const skip = process.getuid?.() !== 0 ? 'not root' : undefined;
if (skip) console.warn(`skipping private mount namespace tests: ${skip}`);

describe.skipIf(skip !== undefined)('privateMounts', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'proc-mnt-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("keeps a tool's mounts inside its own namespace, gone when it exits", async () => {
    const out = await run('sh', ['-c', `mount -t tmpfs banger-test ${dir} && grep -c ' ${dir} ' /proc/self/mountinfo`], { privateMounts: true });
    expect(out.stdout.trim()).toBe('1');
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(` ${dir} `);
  });

  it('names the tool, not the wrapper, when it fails or is missing', async () => {
    await expect(run('false', [], { privateMounts: true })).rejects.toMatchObject({ reason: 'TOOL_FAILED', tool: 'false' });
    await expect(run('banger-no-such-tool', [], { privateMounts: true, noNewPrivs: true })).rejects.toMatchObject({ reason: 'TOOL_MISSING', tool: 'banger-no-such-tool' });
  });
});
