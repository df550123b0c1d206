import { appendFile, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FileConsoleLogs } from '../adapters/console-logs.js';
import { sampleVm } from '../testing/sample-vm.js';
import { StreamVmConsole } from './console.js';

describe('StreamVmConsole (real files)', () => {
  let dir = '';
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  const setup = async (): Promise<{ log: string; uc: StreamVmConsole }> => {
    dir = await mkdtemp(join(tmpdir(), 'console-uc-'));
    const log = join(dir, 'console.log');
    const vm = sampleVm({ files: { ...sampleVm().files, consoleLog: log } });
    const uc = new StreamVmConsole({ vms: { findByRef: async () => vm }, consoleLogs: new FileConsoleLogs() });
    return { log, uc };
  };

  it('sends the last lines, then follows new ones across a rotation', async () => {
    const { log, uc } = await setup();
    await writeFile(log, 'l1\nl2\nl3\n');
    const got: string[] = [];
    const ac = new AbortController();
    const done = uc.run({ ref: 'web', tailLines: 2, follow: true, signal: ac.signal }, async (lines) => {
      for (const l of lines) got.push(l);
    });
    await new Promise((r) => setTimeout(r, 100));
    await appendFile(log, 'before-rotation\n');
    await rename(log, `${log}.1`);
    await writeFile(log, 'after-rotation\n');
    for (let i = 0; i < 40 && !got.includes('after-rotation'); i++) await new Promise((r) => setTimeout(r, 100));
    ac.abort();
    await done;
    expect(got).toEqual(['l2', 'l3', 'before-rotation', 'after-rotation']);
  });

  it('tails a big log from at most 1 MiB of its end, dropping the cut first line', async () => {
    const { log, uc } = await setup();
    await writeFile(log, `${'filler\n'.repeat(3 << 18)}${Array.from({ length: 10 }, (_, i) => `line${i}`).join('\n')}\n`);
    const got: string[] = [];
    await uc.run({ ref: 'web', tailLines: 1_000_000, follow: false, signal: new AbortController().signal }, async (lines) => {
      for (const l of lines) got.push(l);
    });
    expect(got.slice(-10)).toEqual(Array.from({ length: 10 }, (_, i) => `line${i}`));
    // About 1 MiB of 7-byte lines, every one whole (the partial first one dropped).
    expect(got.length).toBeGreaterThan((1 << 20) / 7 - 20);
    expect(got.length).toBeLessThan((1 << 20) / 7 + 1);
    expect(got.slice(0, -10).every((l) => l === 'filler')).toBe(true);
  });
});
