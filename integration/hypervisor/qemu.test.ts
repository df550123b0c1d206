import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { access, mkdir, mkdtemp, readFile, readlink, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HostDiskManager } from '../../services/privhelper/src/adapters/disk/manager.js';
import { isAlive } from '../../services/privhelper/src/adapters/proc/pids.js';
import { probeHost } from '../../services/privhelper/src/adapters/probe/probe.js';
import type { QemuDriverConfig } from '../../services/privhelper/src/adapters/qemu/driver.js';
import { QemuDriver } from '../../services/privhelper/src/adapters/qemu/driver.js';
import type { HostCapabilities } from '../../services/privhelper/src/domain/hypervisor/driver.js';
import type { HostRoots, LaunchRequest } from '../../services/privhelper/src/domain/vmspec/spec.js';
import { validateLaunchSpec } from '../../services/privhelper/src/domain/vmspec/spec.js';
import { READY_MARKER, STOP_MARKER, TINYGUEST_CACHE, buildTinyGuest, tinyGuestUnavailableReason } from '../harness/tinyguest.js';

const run = promisify(execFile);
const QEMU = '/usr/bin/qemu-system-x86_64';
const skipReason =
  (await access(QEMU).then(() => null, () => `${QEMU} missing (apt-get install qemu-system-x86)`)) ??
  (await access('/usr/bin/qemu-img').then(() => null, () => 'qemu-img missing (apt-get install qemu-utils)')) ??
  (await tinyGuestUnavailableReason());
if (skipReason !== null) console.warn(`[skip] qemu integration tests: ${skipReason}`);

const log = pino({ level: process.env['BANGER_TEST_LOG'] ?? 'silent' });
const startedPids = new Set<number>();
const namespaces = new Set<string>();
const ipMissing = await access('/usr/sbin/ip').then(() => false, () => true) && await access('/usr/bin/ip').then(() => false, () => true);
if (ipMissing) console.warn('[skip] netns launch test: ip (iproute2) missing');

async function procStat(pid: number): Promise<{ ppid: number; session: number }> {
  const text = await readFile(`/proc/${pid}/stat`, 'utf8');
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { ppid: Number(f[1]), session: Number(f[3]) };
}
let tmp = '';
let roots: HostRoots;
let caps: HostCapabilities;
let cfg: QemuDriverConfig;
let base: LaunchRequest;

async function waitForConsole(file: string, marker: string, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = await readFile(file, 'utf8').catch(() => '');
    if (text.includes(marker)) return text;
    if (Date.now() > deadline) throw new Error(`no ${marker} in ${file} after ${timeoutMs} ms; tail: ${text.slice(-800)}`);
    await sleep(100);
  }
}

async function request(vmId: string): Promise<LaunchRequest> {
  const disks = new HostDiskManager({ vmDisksRoot: path.join(tmp, 'state/vms'), imageDirs: [path.join(tmp, 'state/images')] }, log);
  const root = await disks.createRootOverlay(vmId, path.join(tmp, 'state/images/base.ext4'));
  return { ...base, vmId, rootDisk: { path: root.path, format: 'qcow2' } };
}

describe.skipIf(skipReason !== null)('QEMU microvm driver with a real guest', () => {
  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'banger-qemu-'));
    await mkdir(path.join(tmp, 'state/images'), { recursive: true });
    await run('truncate', ['-s', '16M', path.join(tmp, 'state/images/base.ext4')]);
    await run('mkfs.ext4', ['-q', '-F', path.join(tmp, 'state/images/base.ext4')]);
    const guest = await buildTinyGuest();
    caps = await probeHost({ kvmBootProbe: true });
    console.info(`[qemu] accel=${caps.accel} (${caps.reason}); qemu ${caps.qemuVersion ?? '?'}; kernel ${guest.kernelPackage}`);
    roots = { stateDirs: [path.join(tmp, 'state'), TINYGUEST_CACHE], runRoot: path.join(tmp, 'run') };
    const cgroupRoot = (await access('/sys/fs/cgroup/cgroup.controllers').then(() => true, () => false))
      ? '/sys/fs/cgroup'
      : (await access('/sys/fs/cgroup/unified/cgroup.controllers').then(() => true, () => false))
        ? '/sys/fs/cgroup/unified'
        : null;
    cfg = { qemuPath: caps.qemuPath ?? QEMU, accel: caps.accel, tscKhz: caps.tscKhz, runRoot: roots.runRoot, cgroupRoot };
    base = {
      vmId: 'x',
      memoryMib: 256,
      vcpus: 1,
      kernelPath: guest.kernelPath,
      initrdPath: guest.initrdPath,
      cmdline: [{ key: 'panic', value: '-1' }, { key: 'banger.test', value: 'tiny-1' }],
      rootDisk: { path: '/unset', format: 'qcow2' },
    };
  });

  afterAll(async () => {
    for (const pid of startedPids) {
      if (await isAlive(pid)) process.kill(pid, 'SIGKILL');
    }
    for (const ns of namespaces) await run('ip', ['netns', 'del', ns]).catch(() => undefined);
    if (tmp !== '') await rm(tmp, { recursive: true, force: true });
    // Only succeeds when empty, so a real banger's VMs on this host are left alone.
    if (cfg?.cgroupRoot) await rmdir(path.join(cfg.cgroupRoot, 'banger')).catch(() => undefined);
  });

  it('chooses the accelerator by capability', async () => {
    const cpuinfo = await readFile('/proc/cpuinfo', 'utf8');
    if (!/\b(vmx|svm)\b/.test(cpuinfo)) {
      expect(caps.accel).toBe('tcg');
      expect(caps.reason).toMatch(/vmx\/svm/);
    }
    expect(caps.qemuVersion).toMatch(/^\d+\.\d+/);
  });

  it('boots the tiny guest to its marker and stops it gracefully via ctrl-alt-delete', async () => {
    const driver = new QemuDriver(cfg, log);
    const spec = await validateLaunchSpec(await request('tiny-graceful'), roots);
    const t0 = Date.now();
    const h = await driver.launch(spec);
    startedPids.add(h.pid);
    expect(h).toMatchObject({ vmId: 'tiny-graceful', accel: caps.accel, runDir: spec.run.dir });
    if (cfg.cgroupRoot !== null) expect(await readFile(`/proc/${h.pid}/cgroup`, 'utf8')).toMatch(/^0::\/banger\/vm-tiny-graceful$/m);
    else console.warn('[skip] cgroup placement check: no cgroup v2 hierarchy on this host');
    const consoleText = await waitForConsole(spec.run.consoleLog, READY_MARKER, 90_000);
    const bootMs = Date.now() - t0;
    expect(consoleText).toMatch(/TINYGUEST-READY cmdline=\[[^\]]*banger\.test=tiny-1/);

    const again = await driver.launch(spec);
    expect(again).toMatchObject({ pid: h.pid, alreadyRunning: true });
    const bigger = await validateLaunchSpec({ ...(await request('tiny-graceful')), memoryMib: 384 }, roots);
    await expect(driver.launch(bigger)).rejects.toMatchObject({ kind: 'ALREADY_EXISTS', reason: 'VM_RUNNING_WITH_OTHER_SPEC' });
    expect((await driver.describe('tiny-graceful')).state).toBe('running');

    const t1 = Date.now();
    expect(await driver.stopGraceful('tiny-graceful', 20_000)).toBe('graceful');
    const stopMs = Date.now() - t1;
    console.info(`[qemu] boot to marker ${bootMs} ms, graceful stop ${stopMs} ms`);
    expect(await isAlive(h.pid)).toBe(false);
    expect(await readFile(spec.run.consoleLog, 'utf8')).toContain(STOP_MARKER);
    expect(await driver.find('tiny-graceful')).toBeUndefined();
    expect(await driver.stopGraceful('tiny-graceful', 1000)).toBe('not_running');
    expect((await driver.describe('tiny-graceful')).state).toBe('not_running');
    expect(await driver.remove('tiny-graceful')).toEqual({ removed: true });
  });

  it('rediscovers a running VM after a simulated helper restart, then kills it', async () => {
    const spec = await validateLaunchSpec(await request('tiny-rediscover'), roots);
    const h = await new QemuDriver(cfg, log).launch(spec);
    startedPids.add(h.pid);
    await waitForConsole(spec.run.consoleLog, READY_MARKER, 90_000);

    const restarted = new QemuDriver(cfg, log);
    const found = await restarted.find('tiny-rediscover');
    expect(found).toEqual({ vmId: 'tiny-rediscover', pid: h.pid, runDir: spec.run.dir, accel: caps.accel });
    const desc = await restarted.describe('tiny-rediscover');
    expect(desc).toMatchObject({ state: 'running', pid: h.pid });
    expect(desc.argv).toContain('banger-tiny-rediscover,debug-threads=off');
    await expect(restarted.remove('tiny-rediscover')).rejects.toMatchObject({ kind: 'FAILED_PRECONDITION', reason: 'VM_RUNNING' });

    expect(await restarted.kill('tiny-rediscover')).toBe('killed');
    expect(await isAlive(h.pid)).toBe(false);
    // SIGKILL leaves the pid file behind: it must read as stale, not running.
    await expect(access(spec.run.pidFile)).resolves.toBeUndefined();
    expect(await restarted.find('tiny-rediscover')).toBeUndefined();
    expect(await restarted.kill('tiny-rediscover')).toBe('not_running');
    await restarted.wait('tiny-rediscover', 1000);
  });

  it('escalates to QMP quit when the guest ignores ctrl-alt-delete; concurrent launches share one QEMU', async () => {
    const req = await request('tiny-stubborn');
    const spec = await validateLaunchSpec({ ...req, cmdline: [...req.cmdline, { key: 'banger.tiny_ignore_cad', value: '1' }] }, roots);
    const driver = new QemuDriver(cfg, log);
    const [a, b] = await Promise.all([driver.launch(spec), driver.launch(spec)]);
    startedPids.add(a.pid);
    expect(b.pid).toBe(a.pid);
    expect([a.alreadyRunning, b.alreadyRunning].filter((x) => x === true)).toHaveLength(1);
    const st = await procStat(a.pid);
    expect(st.ppid).not.toBe(process.pid);
    expect(st.session).not.toBe((await procStat(process.pid)).session);
    await waitForConsole(spec.run.consoleLog, READY_MARKER, 90_000);
    const t0 = Date.now();
    expect(await driver.stopGraceful('tiny-stubborn', 2000)).toBe('quit');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(2000);
    expect(await isAlive(a.pid)).toBe(false);
    expect(await readFile(spec.run.consoleLog, 'utf8')).not.toContain(STOP_MARKER);
  });

  it.skipIf(ipMissing)('runs QEMU inside a named network namespace with a tap there', async () => {
    const ns = `banger-test-${randomBytes(4).toString('hex')}`;
    await run('ip', ['netns', 'add', ns]);
    namespaces.add(ns);
    await run('ip', ['netns', 'exec', ns, 'ip', 'tuntap', 'add', 'dev', 'bgt0', 'mode', 'tap']);
    const req = await request('tiny-netns');
    const spec = await validateLaunchSpec({ ...req, net: { tap: 'bgt0', mac: '52:54:00:00:00:42', netns: ns } }, roots);
    const driver = new QemuDriver(cfg, log);
    const h = await driver.launch(spec);
    startedPids.add(h.pid);
    const nsInode = (await stat(`/run/netns/${ns}`)).ino;
    expect(await readlink(`/proc/${h.pid}/ns/net`)).toBe(`net:[${nsInode}]`);
    expect(await driver.find('tiny-netns')).toMatchObject({ pid: h.pid });
    expect(await driver.kill('tiny-netns')).toBe('killed');
  });

  it('treats a pid file naming some other process as stale', async () => {
    const driver = new QemuDriver(cfg, log);
    const dir = path.join(roots.runRoot, 'vms', 'tiny-stale');
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'qemu.pid'), `${process.pid}\n`);
    expect(await driver.find('tiny-stale')).toBeUndefined();
    expect(await driver.kill('tiny-stale')).toBe('not_running');
    expect(await isAlive(process.pid)).toBe(true);
  });

  it('reports a QEMU start failure as QEMU_LAUNCH_FAILED with its stderr', async () => {
    const req = { ...(await request('tiny-broken')), kernelPath: path.join(tmp, 'state/images/no-such-kernel') };
    const spec = await validateLaunchSpec(req, roots);
    const err = await new QemuDriver(cfg, log).launch(spec).then(() => undefined, (e: unknown) => e);
    expect(err).toMatchObject({ kind: 'INTERNAL', reason: 'QEMU_LAUNCH_FAILED' });
    expect(String((err as Error).message)).toMatch(/no-such-kernel/);
    expect(await readFile(spec.run.qemuLog, 'utf8')).toMatch(/no-such-kernel/);
  });
});

