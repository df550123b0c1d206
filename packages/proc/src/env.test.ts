import { afterEach, describe, expect, it } from 'vitest';
import { childEnv, PINNED_ENV, PINNED_PATH } from './env.js';
import { run } from './run.js';

function parseEnv(out: string): Record<string, string> {
  return Object.fromEntries(out.split('\0').filter((l) => l !== '').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

describe('childEnv', () => {
  it('is the pinned base, then named pass-throughs, then explicit values', () => {
    const from = { http_proxy: 'http://proxy:3128', SECRET: 'x', HOME: '/root' };
    expect(childEnv({ inheritEnv: ['http_proxy', 'NOT_SET'], env: { DEBIAN_FRONTEND: 'noninteractive' } }, from)).toEqual({
      ...PINNED_ENV,
      http_proxy: 'http://proxy:3128',
      DEBIAN_FRONTEND: 'noninteractive',
    });
  });

  it('refuses names that are not variable names and NUL in values', () => {
    expect(() => childEnv({ inheritEnv: ['A=B'] })).toThrow(TypeError);
    expect(() => childEnv({ env: { 'X Y': '1' } })).toThrow(TypeError);
    expect(() => childEnv({ env: { X: 'a\0b' } })).toThrow(TypeError);
  });
});

describe('the environment a child really sees', () => {
  afterEach(() => {
    delete process.env['BANGER_TEST_SECRET'];
    delete process.env['BANGER_TEST_PROXY'];
  });

  it('holds only PATH and the C.UTF-8 locale, nothing of this process', async () => {
    process.env['BANGER_TEST_SECRET'] = 'hunter2';
    const { stdout } = await run('env', ['-0']);
    expect(parseEnv(stdout)).toEqual({ PATH: PINNED_PATH, LC_ALL: 'C.UTF-8', LANG: 'C.UTF-8' });
  });

  it('adds the names passed through and the explicit ones', async () => {
    process.env['BANGER_TEST_SECRET'] = 'hunter2';
    process.env['BANGER_TEST_PROXY'] = 'http://127.0.0.1:9';
    const { stdout } = await run('env', ['-0'], { inheritEnv: ['BANGER_TEST_PROXY'], env: { LC_ALL: 'C', EXTRA: 'a b' } });
    expect(parseEnv(stdout)).toEqual({ PATH: PINNED_PATH, LC_ALL: 'C', LANG: 'C.UTF-8', BANGER_TEST_PROXY: 'http://127.0.0.1:9', EXTRA: 'a b' });
  });

  it('finds programs on the pinned PATH, not on this process PATH', async () => {
    const { stdout } = await run('sh', ['-c', 'command -v sh']);
    expect(PINNED_PATH.split(':')).toContain(stdout.trim().replace(/\/sh$/, ''));
  });
});
