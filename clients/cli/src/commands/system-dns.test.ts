import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { run } from '../cli.js';
import { dnsPlan } from '../host-dns/plan.js';
import { captureIo } from '../test-support.js';
import { installDns } from './system-dns.js';

/** resolved is absent on these machines: the tests check what would be configured, staged under --root. */
describe('banger system dns', () => {
  let root: string;
  const unitPath = () => join(root, 'etc/systemd/system/banger-dns.service');
  const config = (extra = '') => writeFile(join(root, 'etc/banger/config.toml'), `[network]\nbridge = "bgr-test0"\ncidr = "10.77.0.0/24"\n${extra}`);

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'banger-dns-'));
    await mkdir(join(root, 'etc/banger'), { recursive: true });
  });
  afterEach(() => rm(root, { recursive: true, force: true }));

  it('--print shows the resolvectl commands and the unit for the configured bridge, and writes nothing', async () => {
    await config();
    const io = captureIo();
    expect(await run(['system', 'dns', '--print', '--root', root, '--json'], io)).toBe(0);
    const out = JSON.parse(io.stdout.text) as Record<string, unknown>;
    expect(out).toMatchObject({
      bridge: 'bgr-test0',
      gateway: '10.77.0.1',
      device_unit: 'sys-subsystem-net-devices-bgr\\x2dtest0.device',
      commands: [
        ['/usr/bin/resolvectl', 'dns', 'bgr-test0', '10.77.0.1'],
        ['/usr/bin/resolvectl', 'domain', 'bgr-test0', '~vm'],
        ['/usr/bin/resolvectl', 'default-route', 'bgr-test0', 'false'],
      ],
      applied: false,
      actions: [],
    });
    expect(out['unit']).toBe(dnsPlan('bgr-test0', '10.77.0.0/24').unit);
    expect(existsSync(unitPath())).toBe(false);
  });

  it('stages exactly that unit under --root, idempotently, and --remove takes it away', async () => {
    await config();
    const first = captureIo();
    expect(await run(['system', 'dns', '--root', root, '--json'], first)).toBe(0);
    expect(JSON.parse(first.stdout.text)).toMatchObject({ applied: false, actions: [{ action: 'install unit', target: unitPath(), status: 'done' }] });
    const unit = await readFile(unitPath(), 'utf8');
    expect(unit).toBe(dnsPlan('bgr-test0', '10.77.0.0/24').unit);
    expect(unit).toContain('ExecStart=/usr/bin/resolvectl domain bgr-test0 ~vm\n');

    const again = captureIo();
    expect(await run(['system', 'dns', '--root', root, '--json'], again)).toBe(0);
    expect(JSON.parse(again.stdout.text)).toMatchObject({ actions: [{ status: 'exists' }] });

    const human = captureIo();
    expect(await run(['system', 'dns', '--root', root], human)).toBe(0);
    expect(human.stdout.text).toContain('  /usr/bin/resolvectl dns bgr-test0 10.77.0.1\n');
    expect(human.stdout.text).toContain(`next: staged under ${root}; on the target: systemctl daemon-reload && systemctl enable banger-dns.service`);

    const removed = captureIo();
    expect(await run(['system', 'dns', '--remove', '--root', root, '--json'], removed)).toBe(0);
    expect(JSON.parse(removed.stdout.text)).toMatchObject({ actions: [{ action: 'remove unit', status: 'done' }] });
    expect(existsSync(unitPath())).toBe(false);
  });

  it('refuses when VMs live in a network namespace, naming it, and writes nothing', async () => {
    await config('netns = "bangerns"\n');
    const io = captureIo();
    expect(await run(['system', 'dns', '--root', root, '--json'], io)).toBe(1);
    const err = (JSON.parse(io.stderr.text) as { error: { reason: string; message: string } }).error;
    expect(err.reason).toBe('DNS_NETNS');
    expect(err.message).toContain('network namespace bangerns');
    expect(existsSync(unitPath())).toBe(false);
  });

  it('system install stages the same unit where VMs are on a host bridge, and skips it, saying why, in a netns', async () => {
    await config();
    expect(await installDns(root)).toEqual([{ action: 'install unit', target: unitPath(), status: 'done' }]);
    expect(await readFile(unitPath(), 'utf8')).toBe(dnsPlan('bgr-test0', '10.77.0.0/24').unit);
    await rm(unitPath());
    await config('netns = "bangerns"\n');
    const skipped = await installDns(root);
    expect(skipped).toMatchObject([{ action: 'resolve .vm on the host', status: 'skipped' }]);
    expect(skipped[0]?.detail).toContain('network namespace bangerns');
    expect(existsSync(unitPath())).toBe(false);
  });
});
