import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { access, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { helperLayout, type HelperLayout } from '@banger/config';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAlive } from '../../services/privhelper/src/adapters/proc/pids.js';
import { probeHost } from '../../services/privhelper/src/adapters/probe/probe.js';
import type { QemuDriverConfig } from '../../services/privhelper/src/adapters/qemu/driver.js';
import { jailerPath } from '@banger/sys';
import { QemuDriver } from '../../services/privhelper/src/adapters/qemu/driver.js';
import { ImageStore } from '../../services/privhelper/src/adapters/store/image-store.js';
import { KernelStore } from '../../services/privhelper/src/adapters/store/kernel-store.js';
import { VmDiskStore } from '../../services/privhelper/src/adapters/store/vm-disks.js';
import type { HostCapabilities, LaunchInput, VmHandle } from '../../services/privhelper/src/domain/hypervisor/driver.js';
import type { LaunchLimits, LaunchRequest, LaunchSpec } from '../../services/privhelper/src/domain/vmspec/spec.js';
import { validateLaunchSpec } from '../../services/privhelper/src/domain/vmspec/spec.js';
import { writeStoreImage } from '../../services/privhelper/src/testing/store-fixtures.js';
import { stageTinyKernel, TINY_KERNEL } from '../harness/tiny-kernel.js';
import { READY_MARKER, STOP_MARKER, tinyGuestUnavailableReason } from '../harness/tinyguest.js';
import { waitForConsole } from '../harness/guest.js';

const run = promisify(execFile);
const QEMU = '/usr/bin/qemu-system-x86_64';
const MiB = 1024 * 1024;
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

const LIMITS: LaunchLimits = { minMemoryMib: 128, maxMemoryMib: 1024, minVcpus: 1, maxVcpus: 2 };
const IMAGE = 'img-tiny';

async function procStat(pid: number): Promise<{ ppid: number; session: number }> {
  const text = await readFile(`/proc/${pid}/stat`, 'utf8');
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { ppid: Number(f[1]), session: Number(f[3]) };
}

/** What a process holds open, as the paths its fds point at. */
async function openFiles(pid: number): Promise<string[]> {
  const fds = await readdir(`/proc/${pid}/fd`);
  return (await Promise.all(fds.map((fd) => readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')))).filter((p) => p.startsWith('/'));
}

let tmp = '';
let layout: HelperLayout;
let disks: VmDiskStore;
let kernel: { vmlinux: string; initrd: string };
let caps: HostCapabilities;
let cfg: QemuDriverConfig;

function request(vmId: string, over: Partial<LaunchRequest> = {}): LaunchRequest {
  return {
    vmId,
    memoryMib: 256,
    vcpus: 1,
    kernel: TINY_KERNEL,
    cmdline: [{ key: 'panic', value: '-1' }, { key: 'banger.test', value: 'tiny-1' }],
    workDisk: false,
    ...over,
  };
}

/** A validated spec for the VM, with its root overlay (and work disk) created in the store. */
async function prepare(vmId: string, over: Partial<LaunchRequest> = {}): Promise<LaunchSpec> {
  const spec = validateLaunchSpec(request(vmId, over), layout.runVmsDir, LIMITS);
  await disks.createOverlay(vmId, IMAGE);
  if (spec.workDisk) await disks.createWorkDisk(vmId, IMAGE, 32 * MiB);
  return spec;
}

/** Launches as LaunchVm does: the store opens the disks, the driver passes the fds, we close ours. */
async function launch(driver: QemuDriver, spec: LaunchSpec, over: Partial<LaunchInput> = {}): Promise<VmHandle> {
  const opened = await disks.openForLaunch(spec.vmId, spec.workDisk);
  try {
    const h = await driver.launch({ spec, kernelPath: kernel.vmlinux, initrdPath: kernel.initrd, disks: opened, ...over });
    startedPids.add(h.pid);
    return h;
  } finally {
    await opened.close();
  }
}

describe.skipIf(skipReason !== null)('QEMU microvm driver with a real guest, disks passed as descriptors', () => {
  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'banger-qemu-'));
    layout = helperLayout({ paths: { stateDir: path.join(tmp, 'state'), cacheDir: path.join(tmp, 'cache'), runDir: path.join(tmp, 'run') } });
    for (const d of [layout.vmsDir, layout.imagesDir, layout.kernelsDir, layout.runVmsDir]) await mkdir(d, { recursive: true, mode: 0o700 });
    const images = new ImageStore(layout, 0);
    await writeStoreImage(layout.imagesDir, IMAGE);
    disks = new VmDiskStore(layout, images, { maxVms: 16, minWorkDiskBytes: MiB, maxWorkDiskBytes: 64 * MiB, maxWorkDiskTotalBytes: 0 }, log);
    const staged = await stageTinyKernel(path.join(tmp, 'state'));
    const kernels = new KernelStore(layout, path.join(tmp, 'state', 'kernels'), 0, log);
    await kernels.install(staged.ref, (uid) => uid === 0);
    kernel = await kernels.paths(staged.ref);
    caps = await probeHost({ kvmBootProbe: true });
    console.info(`[qemu] accel=${caps.accel} (${caps.reason}); qemu ${caps.qemuVersion ?? '?'}; kernel ${staged.guest.kernelPackage}`);
    cfg = {
      qemuPath: caps.qemuPath ?? QEMU,
      accel: caps.accel,
      tscKhz: caps.tscKhz,
      runVmsDir: layout.runVmsDir,
      jailerPath: jailerPath(),
      jail: { uidBase: 2_000_000_000, uidCount: 1024, optional: [], memoryOverheadMib: 256, pidsMax: 256, consoleMaxBytes: 1024 * 1024 },
      cgroups: { root: '/sys/fs/cgroup', selfCgroup: await readFile('/proc/self/cgroup', 'utf8'), pid: process.pid },
      clientGid: 0,
    };
  });

  afterAll(async () => {
    for (const pid of startedPids) {
      if (await isAlive(pid)) process.kill(pid, 'SIGKILL');
    }
    for (const ns of namespaces) await run('ip', ['netns', 'del', ns]).catch(() => undefined);
    if (tmp !== '') await rm(tmp, { recursive: true, force: true });

  });

  it('chooses the accelerator by capability', async () => {
    const cpuinfo = await readFile('/proc/cpuinfo', 'utf8');
    if (!/\b(vmx|svm)\b/.test(cpuinfo)) {
      expect(caps.accel).toBe('tcg');
      expect(caps.reason).toMatch(/vmx\/svm/);
    }
    expect(caps.qemuVersion).toMatch(/^\d+\.\d+/);
  });

  it('boots the installed kernel with fd-backed disks to its marker and stops it gracefully via ctrl-alt-delete', async () => {
    const driver = new QemuDriver(cfg, log);
    const spec = await prepare('tiny-graceful', { workDisk: true });
    const t0 = Date.now();
    const h = await launch(driver, spec);
    expect(h).toMatchObject({ vmId: 'tiny-graceful', accel: caps.accel, runDir: spec.run.dir });
    // Born in its own cgroup (v1 here: memory, pids and cpu; v2: one), nested under ours.
    expect(await readFile(`/proc/${h.pid}/cgroup`, 'utf8')).toMatch(/vm-tiny-graceful$/m);
    const consoleText = await waitForConsole(spec.run.consoleLog, READY_MARKER, 90_000);
    const bootMs = Date.now() - t0;
    expect(consoleText).toMatch(/TINYGUEST-READY cmdline=\[[^\]]*banger\.test=tiny-1/);

    // QEMU was handed descriptors, never a disk path: its argv names fd sets, and the disks it
    // holds are exactly the overlay, the recorded base and the work disk.
    const argv = (await readFile(`/proc/${h.pid}/cmdline`, 'utf8')).split('\0');
    const vmDir = disks.dirOf('tiny-graceful');
    expect(argv.join(' ')).not.toContain(vmDir);
    expect(argv.join(' ')).not.toContain(layout.imagesDir);
    expect(argv.filter((a) => a.includes('/dev/fdset/'))).toHaveLength(3);
    const held = await openFiles(h.pid);
    expect(held).toEqual(expect.arrayContaining([path.join(vmDir, 'root.qcow2'), path.join(vmDir, 'work.ext4'), path.join(layout.imagesDir, IMAGE, 'rootfs.ext4')]));
    expect([...new Set(held.filter((p) => p.startsWith(layout.imagesDir)))]).toEqual([path.join(layout.imagesDir, IMAGE, 'rootfs.ext4')]);

    const again = await launch(driver, spec);
    expect(again).toMatchObject({ pid: h.pid, alreadyRunning: true });
    const bigger = validateLaunchSpec(request('tiny-graceful', { workDisk: true, memoryMib: 384 }), layout.runVmsDir, LIMITS);
    await expect(launch(driver, bigger)).rejects.toMatchObject({ kind: 'ALREADY_EXISTS', reason: 'VM_RUNNING_WITH_OTHER_SPEC' });
    expect((await driver.describe('tiny-graceful')).state).toBe('running');
    expect(await driver.runningMemoryMib()).toBe(256);
    expect(await driver.runningKernels()).toEqual([TINY_KERNEL]);

    const t1 = Date.now();
    expect(await driver.stopGraceful('tiny-graceful', 20_000)).toBe('graceful');
    const stopMs = Date.now() - t1;
    console.info(`[qemu] boot to marker ${bootMs} ms, graceful stop ${stopMs} ms`);
    expect(await isAlive(h.pid)).toBe(false);
    expect(await readFile(spec.run.consoleLog, 'utf8')).toContain(STOP_MARKER);
    expect(await driver.find('tiny-graceful')).toBeUndefined();
    expect(await driver.stopGraceful('tiny-graceful', 1000)).toBe('not_running');
    expect((await driver.describe('tiny-graceful')).state).toBe('not_running');
    expect(await driver.runningMemoryMib()).toBe(0);
    expect(await driver.remove('tiny-graceful')).toEqual({ removed: true });
  });

  it('never opens the backing file an overlay header names; rediscovers the VM after a simulated helper restart, then kills it', async () => {
    const spec = await prepare('tiny-rediscover');
    const victim = path.join(tmp, 'victim.raw');
    await writeFile(victim, Buffer.alloc(16 * MiB));
    await run('qemu-img', ['rebase', '-u', '-b', victim, '-F', 'raw', path.join(disks.dirOf('tiny-rediscover'), 'root.qcow2')]);
    const h = await launch(new QemuDriver(cfg, log), spec);
    await waitForConsole(spec.run.consoleLog, READY_MARKER, 90_000);
    expect(await openFiles(h.pid)).not.toContain(victim);
    expect(await openFiles(h.pid)).toContain(path.join(layout.imagesDir, IMAGE, 'rootfs.ext4'));

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
    const spec = await prepare('tiny-stubborn', { cmdline: [...request('x').cmdline, { key: 'banger.tiny_ignore_cad', value: '1' }] });
    const driver = new QemuDriver(cfg, log);
    const [a, b] = await Promise.all([launch(driver, spec), launch(driver, spec)]);
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

  it.skipIf(ipMissing)('opens the tap inside the VM network namespace and runs QEMU in an empty one of its own', async () => {
    const ns = `banger-test-${randomBytes(4).toString('hex')}`;
    await run('ip', ['netns', 'add', ns]);
    namespaces.add(ns);
    await run('ip', ['netns', 'exec', ns, 'ip', 'tuntap', 'add', 'dev', 'bgt0', 'mode', 'tap']);
    const spec = await prepare('tiny-netns', { mac: '52:54:00:00:00:42' });
    const driver = new QemuDriver(cfg, log);
    const h = await launch(driver, spec, { net: { tap: 'bgt0', mac: '52:54:00:00:00:42', netns: ns } });
    const nsInode = (await stat(`/run/netns/${ns}`)).ino;
    // Neither the VM network nor the host's: QEMU reaches the network only through its tap fd.
    expect(await readlink(`/proc/${h.pid}/ns/net`)).not.toBe(`net:[${nsInode}]`);
    expect(await readlink(`/proc/${h.pid}/ns/net`)).not.toBe(await readlink('/proc/self/ns/net'));
    expect(await readFile(`/proc/${h.pid}/net/dev`, 'utf8')).not.toContain('bgt0');
    expect((await readdir(`/proc/${h.pid}/fd`).then((fds) => Promise.all(fds.map((fd) => readlink(`/proc/${h.pid}/fd/${fd}`).catch(() => '')))))).toContain('/dev/net/tun');
    expect(await driver.find('tiny-netns')).toMatchObject({ pid: h.pid });
    expect(await driver.kill('tiny-netns')).toBe('killed');
  });

  it('treats a pid file naming some other process as stale', async () => {
    const driver = new QemuDriver(cfg, log);
    const dir = path.join(layout.runVmsDir, 'tiny-stale');
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'qemu.pid'), `${process.pid}\n`);
    expect(await driver.find('tiny-stale')).toBeUndefined();
    expect(await driver.kill('tiny-stale')).toBe('not_running');
    expect(await isAlive(process.pid)).toBe(true);
  });

  it('a jail layer the host cannot apply fails the launch naming the layer and the config that allows its absence; allowed, the VM runs and says so', async () => {
    // A host without usable cgroups, as far as this driver can tell.
    const noCgroups = { ...cfg, cgroups: { ...cfg.cgroups, root: path.join(tmp, 'no-cgroupfs') } };
    const refused = await launch(new QemuDriver(noCgroups, log), await prepare('tiny-nocg')).then(() => undefined, (e: unknown) => e);
    expect(refused).toMatchObject({ reason: 'JAIL_LAYER_UNAVAILABLE' });
    expect((refused as { fields?: Record<string, string> }).fields).toMatchObject({ layer: 'cgroup', fix: expect.stringContaining('jail_optional_layers = ["cgroup"]') });
    expect(await new QemuDriver(cfg, log).find('tiny-nocg')).toBeUndefined();
    const allowed = new QemuDriver({ ...noCgroups, jail: { ...cfg.jail, optional: ['cgroup'] } }, log);
    const h = await launch(allowed, await prepare('tiny-nocg2'));
    const jail = await allowed.jail('tiny-nocg2');
    expect(jail).toMatchObject({ skipped: ['cgroup'], seccompMode: 2, noNewPrivs: true, limits: null });
    expect(jail?.applied).not.toContain('cgroup');
    expect(await allowed.kill('tiny-nocg2')).toBe('killed');
    expect(await isAlive(h.pid)).toBe(false);
  });

  it('reports a jail that cannot be built as JAIL_FAILED, naming what failed, and a QEMU that cannot start as QEMU_LAUNCH_FAILED with its stderr', async () => {
    const spec = await prepare('tiny-broken');
    const jail = await launch(new QemuDriver(cfg, log), spec, { kernelPath: path.join(tmp, 'no-such-kernel') }).then(() => undefined, (e: unknown) => e);
    expect(jail).toMatchObject({ kind: 'INTERNAL', reason: 'JAIL_FAILED' });
    expect(String((jail as Error).message)).toMatch(/no-such-kernel/);
    // A kernel the jail can mount but QEMU cannot boot: QEMU's own error, from its log.
    const notKernel = path.join(tmp, 'not-a-kernel');
    await writeFile(notKernel, 'not a kernel\n', { mode: 0o644 });
    const qemu = await launch(new QemuDriver(cfg, log), await prepare('tiny-broken2'), { kernelPath: notKernel }).then(() => undefined, (e: unknown) => e);
    expect(qemu).toMatchObject({ kind: 'INTERNAL', reason: 'QEMU_LAUNCH_FAILED' });
    expect(String((qemu as Error).message)).toMatch(/kernel/i);
  });
});
