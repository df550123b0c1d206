import { mkdtemp, readFile, rm, stat, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { installSshConfig } from './ssh-install.js';

describe('ssh-config --install', () => {
  let home: string;
  beforeEach(async () => {
    home = await mkdtemp(join(tmpdir(), 'banger-sshcfg-'));
  });
  afterEach(async () => rm(home, { recursive: true, force: true }));

  it('writes banger.conf 0600 and puts the Include first in a new ~/.ssh/config', async () => {
    const r = await installSshConfig('Host dev\n', { HOME: home });
    expect(r).toEqual({ file: join(home, '.ssh', 'banger.conf'), config: join(home, '.ssh', 'config'), includeAdded: true });
    expect(await readFile(r.file, 'utf8')).toBe('Host dev\n');
    expect((await stat(r.file)).mode & 0o777).toBe(0o600);
    expect((await stat(join(home, '.ssh'))).mode & 0o777).toBe(0o700);
    expect((await readFile(r.config, 'utf8')).split('\n').filter((l) => !l.startsWith('#'))[0]).toBe('Include banger.conf');
  });

  it('keeps an existing config below the Include, and is idempotent', async () => {
    await mkdir(join(home, '.ssh'), { mode: 0o700 });
    await writeFile(join(home, '.ssh', 'config'), 'Host work\n  User me\n');
    await installSshConfig('Host dev\n', { HOME: home });
    const once = await readFile(join(home, '.ssh', 'config'), 'utf8');
    expect(once).toMatch(/^# added by .*\nInclude banger\.conf\n\nHost work\n {2}User me\n$/);
    const again = await installSshConfig('Host dev\nHost web\n', { HOME: home });
    expect(again.includeAdded).toBe(false);
    expect(await readFile(join(home, '.ssh', 'config'), 'utf8')).toBe(once);
    expect(await readFile(again.file, 'utf8')).toBe('Host dev\nHost web\n');
  });

  it('recognises an Include the user wrote themselves', async () => {
    await mkdir(join(home, '.ssh'), { mode: 0o700 });
    await writeFile(join(home, '.ssh', 'config'), 'Include ~/.ssh/banger.conf\n');
    expect((await installSshConfig('', { HOME: home })).includeAdded).toBe(false);
  });
});
