import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import { descriptorSetPath, helperv2 } from '@banger/api';
import { BangerServer, createLogger, implementService, setRootLogger, unary } from '@banger/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../cli.js';
import { captureIo } from '../test-support.js';

interface Check {
  name: string;
  status: string;
  detail: string;
  fix?: string;
}

describe('banger doctor', () => {
  let dir: string;
  let server: BangerServer;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'banger-doctor-'));
    const logger = createLogger({ service: 'privhelper', level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) });
    setRootLogger(logger);
    server = new BangerServer({ logger, serviceNames: ['banger.helper.v2.HelperService'], descriptorSetPath });
    const impl = implementService(helperv2.HelperServiceService, 'banger.helper.v2.HelperService', {
      getServerInfo: unary(async () => ({ info: { name: 'privhelper', version: '0.1.0', apiVersion: '1', startedAt: new Date(), pid: 77 } })),
      probeHost: unary(async () => ({
        capabilities: helperv2.HostCapabilities.fromPartial({
          checks: [
            { name: 'kvm', status: helperv2.CheckStatus.CHECK_STATUS_WARN, detail: 'KVM not usable (PVM); using TCG', fix: '' },
            { name: 'qemu', status: helperv2.CheckStatus.CHECK_STATUS_FAIL, detail: 'qemu-system-x86_64 not found', fix: 'sudo apt-get install qemu-system-x86' },
            { name: 'tun', status: helperv2.CheckStatus.CHECK_STATUS_PASS, detail: '/dev/net/tun', fix: '' },
          ],
        }),
      })),
    });
    server.addService(helperv2.HelperServiceService, impl as UntypedServiceImplementation);
    await mkdir(join(dir, 'helper'));
    await server.listen({ socketPath: join(dir, 'helper', 'privhelper.sock'), mode: 0o600 });
    // The checks that read the configuration read this one, not the host's.
    await writeFile(join(dir, 'config.toml'), `[paths]\nstate_dir = "${join(dir, 'state')}"\ncache_dir = "${join(dir, 'cache')}"\nrun_dir = "${dir}"\n`);
  });

  afterAll(async () => {
    await server.shutdown(1000);
    await rm(dir, { recursive: true, force: true });
  });

  it('reports daemon health and the host probe with fixes, and fails when a check fails', async () => {
    const io = captureIo({ BANGER_RUN_DIR: dir, PATH: '', BANGER_CONFIG: join(dir, 'config.toml') });
    expect(await run(['doctor', '--json'], io)).toBe(1);
    const doc = JSON.parse(io.stdout.text) as { ok: boolean; checks: Check[] };
    expect(doc.ok).toBe(false);
    const by = Object.fromEntries(doc.checks.map((c) => [c.name, c]));
    expect(by['vmd']).toMatchObject({ status: 'fail', fix: 'sudo systemctl start banger-vmd' });
    expect(by['vmd']?.detail).toContain(join(dir, 'vmd.sock'));
    expect(by['privhelper']).toMatchObject({ status: 'pass' });
    expect(by['kvm']).toMatchObject({ status: 'warn' });
    expect(by['qemu']).toMatchObject({ status: 'fail', fix: 'sudo apt-get install qemu-system-x86' });
    expect(by['tun']).toMatchObject({ status: 'pass' });
    expect(by['ssh client']).toMatchObject({ status: 'warn', fix: 'sudo apt-get install openssh-client' });
    expect(by['leftovers']).toMatchObject({ status: 'warn', detail: 'vmd unreachable: cannot check for leftovers' });
    expect(by['vmd database']).toMatchObject({ status: 'warn', detail: 'cannot ask vmd about its database: it is not answering', fix: 'sudo systemctl start banger-vmd' });
    expect(by['default image']).toMatchObject({ status: 'warn', detail: 'imaged unreachable: cannot list images and kernels' });
    expect(by['state dir space']?.detail).toContain(`GiB free under ${join(dir, 'state')}`);
    expect(by['cache dir space']?.detail).toContain(`GiB free under ${join(dir, 'cache')}`);
    expect(by['network namespace']).toMatchObject({ status: 'pass', detail: 'none configured: VMs use the host network namespace' });
    expect(by['.vm resolution']?.status).toMatch(/^(pass|warn)$/);
  });

  it('prints one pass/warn/fail line per check with the fix under it', async () => {
    const io = captureIo({ BANGER_RUN_DIR: dir, PATH: '', BANGER_CONFIG: join(dir, 'config.toml') });
    expect(await run(['doctor'], io)).toBe(1);
    const width = 'network namespace'.length;
    expect(io.stdout.lines).toContain(`✗ fail  ${'qemu'.padEnd(width)}  qemu-system-x86_64 not found`);
    expect(io.stdout.lines).toContain(`${' '.repeat(width + 10)}fix: sudo apt-get install qemu-system-x86`);
    expect(io.stdout.lines).toContain(`✓ pass  ${'tun'.padEnd(width)}  /dev/net/tun`);
    expect(io.stdout.lines.at(-1)).toMatch(/^\d+ passed, \d+ warnings, 3 failed$/);
  });
});
