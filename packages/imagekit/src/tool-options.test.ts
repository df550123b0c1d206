import { run } from '@banger/proc';
import { afterEach, describe, expect, it } from 'vitest';
import { toolOptions } from './tool-options.js';

describe('imagekit tool options', () => {
  afterEach(() => {
    delete process.env['https_proxy'];
    delete process.env['BANGER_TEST_SECRET'];
  });

  it('an abort mid-tool is BUILD_CANCELLED, like the build stage checks', async () => {
    const ac = new AbortController();
    const p = run('sleep', ['30'], toolOptions(ac.signal));
    setTimeout(() => ac.abort(), 100);
    await expect(p).rejects.toMatchObject({ code: 'CANCELLED', reason: 'BUILD_CANCELLED' });
  });

  it('passes proxies through to apt and npm, and nothing else of the daemon', async () => {
    process.env['https_proxy'] = 'http://127.0.0.1:9';
    process.env['BANGER_TEST_SECRET'] = 'hunter2';
    const env = (await run('env', [], toolOptions(undefined))).stdout;
    expect(env).toContain('https_proxy=http://127.0.0.1:9\n');
    expect(env).not.toContain('hunter2');
  });
});
