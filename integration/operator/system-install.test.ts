import { spawn } from 'node:child_process';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { lstat, mkdtemp, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '@banger/config';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../harness/daemons.js';
import { dnsPlan } from '../../clients/cli/src/host-dns/plan.js';

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(REPO_ROOT, 'clients', 'cli', 'bin', 'banger.mjs'), ...args], { cwd: REPO_ROOT, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

interface Action {
  action: string;
  target: string;
  status: string;
}

const analyze = spawnSync('systemd-analyze', ['--version']).status === 0;

describe('banger system install|status|uninstall --root', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'banger-root-'));
  });
  afterAll(async () => rm(root, { recursive: true, force: true }));

  it('stages the account, config, units, tmpfiles and directories without touching the host', async () => {
    const hostPasswd = await readFile('/etc/passwd', 'utf8');
    const r = await cli(['system', 'install', '--root', root, '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { account: { uid: number; gid: number }; actions: Action[]; started: boolean; next: string };
    expect(out.started).toBe(false);
    expect(out.next).toContain('systemctl enable --now');
    expect(await readFile('/etc/passwd', 'utf8')).toBe(hostPasswd);

    const passwd = await readFile(join(root, 'etc', 'passwd'), 'utf8');
    expect(passwd).toMatch(new RegExp(`^banger:x:${out.account.uid}:${out.account.gid}:.*:/usr/sbin/nologin$`, 'm'));
    expect(await readFile(join(root, 'etc', 'group'), 'utf8')).toMatch(new RegExp(`^banger:x:${out.account.gid}:$`, 'm'));
    expect(out.account.uid).toBeGreaterThanOrEqual(100);
    expect(out.account.uid).toBeLessThan(1000);

    const configPath = join(root, 'etc', 'banger', 'config.toml');
    const config = parseConfig(await readFile(configPath, 'utf8'), configPath, { env: {}, uid: out.account.uid });
    expect(config.privhelper.allowedUids).toEqual([0, out.account.uid]);
    // Explicit paths: the daemons run as banger, not root, and must still use the system dirs.
    expect(config.paths).toEqual({ stateDir: '/var/lib/banger', runDir: '/run/banger', cacheDir: '/var/cache/banger' });
    expect((await stat(configPath)).mode & 0o777).toBe(0o640);

    for (const d of ['vmd', 'imaged', 'privhelper']) {
      const unit = await readFile(join(root, 'etc', 'systemd', 'system', `banger-${d}.service`), 'utf8');
      expect(unit).toContain(`ExecStart=${process.execPath} ${REPO_ROOT}/services/${d}/bin/${d}.mjs`);
      expect(unit).not.toContain('/opt/banger');
    }
    expect(await readFile(join(root, 'etc', 'tmpfiles.d', 'banger.conf'), 'utf8')).toContain('d /run/banger ');
    // `banger` on PATH: a link to this checkout's launcher.
    expect(await readlink(join(root, 'usr', 'local', 'bin', 'banger'))).toBe(join(REPO_ROOT, 'clients', 'cli', 'bin', 'banger.mjs'));
    expect(out.actions.find((a) => a.action === 'link banger into PATH')?.status).toBe('done');
    // .vm names on the host: the default config keeps VMs on a host bridge, so the resolver unit
    // `system dns` installs is staged too (enabled only where systemd runs).
    const dnsUnit = join(root, 'etc', 'systemd', 'system', 'banger-dns.service');
    expect(out.actions.find((a) => a.target === dnsUnit)?.status).toBe('done');
    expect(await readFile(dnsUnit, 'utf8')).toBe(dnsPlan(config.network.bridge, config.network.cidr).unit);
    // The layout (docs/trust-model.md): root owns the tops and privhelper's helper/ roots; the
    // daemons own their own subdirectories; the run directory is sticky and group-writable.
    const layout: [string, number, 'root' | 'banger'][] = [
      ['run/banger', 0o1775, 'root'],
      ['run/banger/helper', 0o711, 'root'],
      ['var/lib/banger', 0o755, 'root'],
      ['var/lib/banger/helper', 0o711, 'root'],
      ['var/lib/banger/helper/vms', 0o700, 'root'],
      ['var/lib/banger/db', 0o750, 'banger'],
      ['var/lib/banger/ssh', 0o750, 'banger'],
      ['var/cache/banger', 0o755, 'root'],
      ['var/cache/banger/helper', 0o700, 'root'],
      ['var/cache/banger/apt', 0o750, 'banger'],
      ['var/log/banger', 0o755, 'root'],
    ];
    for (const [dir, mode, owner] of layout) {
      const st = await stat(join(root, dir));
      expect(st.mode & 0o7777, dir).toBe(mode);
      if (process.getuid?.() === 0) expect(st.uid, dir).toBe(owner === 'root' ? 0 : out.account.uid);
    }
    // Parents are created traversable, not with the leaf's mode.
    expect((await stat(join(root, 'var', 'lib'))).mode & 0o777).toBe(0o755);
  });

  it.skipIf(!analyze)('installs units that still pass systemd-analyze verify after substitution', () => {
    const units = ['vmd', 'imaged', 'privhelper'].map((d) => join(root, 'etc', 'systemd', 'system', `banger-${d}.service`));
    const r = spawnSync('systemd-analyze', ['verify', '--man=no', ...units], { encoding: 'utf8' });
    expect(`${r.stdout}${r.stderr}`.trim()).toBe('');
    expect(r.status).toBe(0);
  });

  it('is idempotent and keeps an existing config', async () => {
    const configPath = join(root, 'etc', 'banger', 'config.toml');
    await writeFile(configPath, '[log]\nlevel = "debug"\n');
    const r = await cli(['system', 'install', '--root', root, '--json']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { actions: Action[]; warnings: string[] };
    expect(out.actions.filter((a) => a.status === 'done')).toEqual([]);
    // A config written for root-run daemons is kept, but what would break is named.
    expect(out.warnings.join('\n')).toMatch(/allowed_uids/);
    expect(out.warnings.join('\n')).toMatch(/\[paths\]/);
    expect(await readFile(configPath, 'utf8')).toBe('[log]\nlevel = "debug"\n');
    expect((await readFile(join(root, 'etc', 'passwd'), 'utf8')).match(/^banger:/gm)).toHaveLength(1);
  });

  it('reports the staged installation', async () => {
    const r = await cli(['system', 'status', '--root', root, '--json']);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout) as { installed: boolean; units: { unit: string; installed: boolean }[]; account: { user: { uid: number } | null }; sockets: { daemon: string; path: string; present: boolean }[] };
    expect(s.installed).toBe(true);
    expect(s.units.map((u) => u.installed)).toEqual([true, true, true]);
    expect(s.account.user?.uid).toBeGreaterThan(0);
    expect(s.sockets.map((x) => x.path)).toContain(join(root, 'run', 'banger', 'vmd.sock'));
    const text = await cli(['system', 'status', '--root', root]);
    expect(text.stdout).toMatch(/banger-vmd\.service/);
    expect(text.stdout).toMatch(/^installed$/m);
  });

  it('uninstall keeps state and config; --purge removes them and the account', async () => {
    const keep = await cli(['system', 'uninstall', '--root', root, '--json']);
    expect(keep.code).toBe(0);
    expect(existsSync(join(root, 'etc', 'systemd', 'system', 'banger-vmd.service'))).toBe(false);
    expect(existsSync(join(root, 'etc', 'systemd', 'system', 'banger-dns.service'))).toBe(false);
    expect(existsSync(join(root, 'etc', 'tmpfiles.d', 'banger.conf'))).toBe(false);
    expect(await lstat(join(root, 'usr', 'local', 'bin', 'banger')).catch(() => 'absent')).toBe('absent');
    expect(existsSync(join(root, 'etc', 'banger', 'config.toml'))).toBe(true);
    expect(existsSync(join(root, 'var', 'lib', 'banger'))).toBe(true);

    const purge = await cli(['system', 'uninstall', '--root', root, '--purge', '--json']);
    expect(purge.code).toBe(0);
    for (const p of ['etc/banger/config.toml', 'var/lib/banger', 'var/cache/banger', 'run/banger']) expect(existsSync(join(root, p)), p).toBe(false);
    expect(await readFile(join(root, 'etc', 'passwd'), 'utf8')).not.toMatch(/^banger:/m);
    const status = JSON.parse((await cli(['system', 'status', '--root', root, '--json'])).stdout) as { installed: boolean };
    expect(status.installed).toBe(false);
  });
});
