import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../harness/daemons.js';

const UNITS = ['banger-privhelper.service', 'banger-imaged.service', 'banger-vmd.service'];
const DEPLOY = join(REPO_ROOT, 'deploy', 'systemd');

function analyzeUnavailable(): string | undefined {
  const r = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return 'systemd-analyze is not installed (apt-get install systemd)';
  return undefined;
}
const skip = analyzeUnavailable();
if (skip) console.warn(`integration/operator systemd-analyze checks skipped: ${skip}`);

/** verify exits 0 on unknown keys (it only warns), so any output at all is a failure. */
function verify(files: string[]): { status: number | null; output: string } {
  const r = spawnSync('systemd-analyze', ['verify', '--man=no', ...files], { encoding: 'utf8', cwd: DEPLOY });
  return { status: r.status, output: `${r.stdout}${r.stderr}`.trim() };
}

describe('deploy/systemd units', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'banger-units-'));
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  it.skipIf(skip !== undefined)('pass systemd-analyze verify without a single warning', () => {
    const r = verify(UNITS.map((u) => join(DEPLOY, u)));
    expect(r.output).toBe('');
    expect(r.status).toBe(0);
  });

  it.skipIf(skip !== undefined)('the check itself catches a misspelt key', async () => {
    const text = (await readFile(join(DEPLOY, 'banger-vmd.service'), 'utf8')).replace('NoNewPrivileges=yes', 'NoNewPrivilegez=yes');
    const bad = join(dir, 'banger-vmd.service');
    await writeFile(bad, text);
    expect(verify([bad]).output).toMatch(/Unknown key 'NoNewPrivilegez'/);
  });

  it.skipIf(skip !== undefined)('rate vmd and imaged as well hardened', () => {
    for (const unit of ['banger-vmd.service', 'banger-imaged.service']) {
      const out = execFileSync('systemd-analyze', ['security', '--offline=yes', '--no-pager', join(DEPLOY, unit)], { encoding: 'utf8' });
      const score = Number(/Overall exposure level for \S+: ([\d.]+)/.exec(out)?.[1]);
      expect(score, unit).toBeLessThanOrEqual(3);
    }
  });

  it('keep VMs alive across helper restarts and order the daemons after the helper', async () => {
    const helper = await readFile(join(DEPLOY, 'banger-privhelper.service'), 'utf8');
    expect(helper).toMatch(/^KillMode=process$/m);
    expect(helper).toMatch(/^Restart=on-failure$/m);
    expect(helper).not.toMatch(/^User=/m);
    for (const needed of ['CAP_NET_ADMIN', 'CAP_SYS_ADMIN', 'CAP_SYS_CHROOT', 'CAP_MKNOD']) expect(helper).toContain(needed);
    expect(helper).toMatch(/^DeviceAllow=\/dev\/kvm rw$/m);
    expect(helper).toMatch(/^DeviceAllow=\/dev\/net\/tun rw$/m);
    for (const d of ['vmd', 'imaged']) {
      const unit = await readFile(join(DEPLOY, `banger-${d}.service`), 'utf8');
      expect(unit).toMatch(/^User=banger$/m);
      expect(unit).toMatch(/^Group=banger$/m);
      expect(unit).toMatch(/^After=.*banger-privhelper\.service/m);
      expect(unit).toMatch(/^Wants=.*banger-privhelper\.service/m);
      expect(unit).toMatch(/^ProtectSystem=strict$/m);
      expect(unit).toMatch(/^NoNewPrivileges=yes$/m);
      expect(unit).toMatch(/^CapabilityBoundingSet=$/m);
      expect(unit).toContain(`ExecStart=/usr/bin/node /opt/banger/services/${d}/bin/${d}.mjs`);
    }
  });
});
