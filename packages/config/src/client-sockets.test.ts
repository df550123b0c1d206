import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientSockets } from './client-sockets.js';

describe('clientSockets', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'banger-sockets-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('BANGER_RUN_DIR wins over any config file', async () => {
    const config = join(dir, 'a.toml');
    await writeFile(config, '[paths]\nrun_dir = "/elsewhere"\n');
    expect(clientSockets({ BANGER_RUN_DIR: '/r', BANGER_CONFIG: config }, 1000)).toEqual({ vmd: '/r/vmd.sock', imaged: '/r/imaged.sock', privhelper: '/r/helper/privhelper.sock', from: 'BANGER_RUN_DIR' });
  });

  it("follows the config file the daemons read: its run_dir, its socket keys, and their env overrides", async () => {
    const config = join(dir, 'b.toml');
    await writeFile(config, '[paths]\nrun_dir = "/srv/banger/run"\n[imaged]\nsocket = "/srv/i.sock"\n');
    expect(clientSockets({ BANGER_CONFIG: config }, 1000)).toEqual({ vmd: '/srv/banger/run/vmd.sock', imaged: '/srv/i.sock', privhelper: '/srv/banger/run/helper/privhelper.sock', from: config });
    expect(clientSockets({ BANGER_CONFIG: config, BANGER_VMD_SOCKET: '/o/v.sock' }, 1000).vmd).toBe('/o/v.sock');
  });

  it("a user's own config without [paths] means that user's daemons: the per-user run dir", async () => {
    const home = join(dir, 'home');
    await writeFile(join(dir, 'c.toml'), '[log]\nlevel = "debug"\n');
    expect(clientSockets({ BANGER_CONFIG: join(dir, 'c.toml'), HOME: home, XDG_RUNTIME_DIR: '/run/user/1000' }, 1000).vmd).toBe('/run/user/1000/banger/vmd.sock');
  });

  it('an unreadable or invalid config falls back to the install layout and says why', async () => {
    const bad = join(dir, 'bad.toml');
    await writeFile(bad, '[paths\n');
    const s = clientSockets({ BANGER_CONFIG: bad }, 0);
    expect(s).toMatchObject({ vmd: '/run/banger/vmd.sock', from: 'system install layout' });
    expect(s.configProblem).toContain(bad);
    expect(clientSockets({ BANGER_CONFIG: join(dir, 'missing.toml') }, 0).configProblem).toContain('cannot read');
  });
});
