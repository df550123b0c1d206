import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { access, readdir, readFile, readlink, stat } from 'node:fs/promises';
import { totalmem } from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { helperv2 } from '@banger/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAlive } from '../../services/privhelper/src/adapters/proc/pids.js';
import { bangerAccount } from '../harness/accounts.js';
import { READY_MARKER, STOP_MARKER, tinyGuestUnavailableReason } from '../harness/tinyguest.js';
import { HelperFixture, helperUnavailableReason } from './setup.js';
import { waitForConsole } from '../harness/guest.js';

const skip = (await helperUnavailableReason({ qemu: true })) ?? (await tinyGuestUnavailableReason()) ?? undefined;
if (skip) console.warn(`[skip] privhelper hypervisor verbs over gRPC: ${skip}`);

const GiB = 1024 ** 3;
// [privhelper] max_guest_memory_percent so that one 256 MiB guest fits and a second does not.
const hostMiB = Math.floor(totalmem() / 1024 / 1024);
const memoryPercent = Math.ceil((256 * 100) / hostMiB);
const memoryQuotaMiB = Math.floor((hostMiB * memoryPercent) / 100);
const memoryQuotaTestable = memoryQuotaMiB >= 256 && memoryQuotaMiB < 512;
if (!memoryQuotaTestable) console.warn(`[skip] guest memory quota check: ${memoryPercent}% of ${hostMiB} MiB cannot hold exactly one 256 MiB guest`);

/** Paths a process holds open (deduplicated: QEMU dups the descriptors it is given). */
async function openFiles(pid: number): Promise<string[]> {
  const fds = await readdir(`/proc/${pid}/fd`);
  return [...new Set((await Promise.all(fds.map((fd) => readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')))).filter((p) => p.startsWith('/')))];
}

describe.skipIf(skip !== undefined)('privhelper daemon: a real tiny guest launched by name, found after a helper restart, stopped', () => {
  let f: HelperFixture;
  const vmId = `hv-${randomBytes(3).toString('hex')}`;
  let kernel: { name: string; version: string };
  let spec: helperv2.HypervisorSpec;
  let pid = 0;
  let consoleLog = '';
  let tap = '';
  const launchSpec = (over: Partial<helperv2.HypervisorSpec>): { spec: helperv2.HypervisorSpec } => ({ spec: helperv2.HypervisorSpec.fromPartial({ ...spec, ...over }) });

  beforeAll(async () => {
    f = await HelperFixture.start({
      privhelper: [`max_guest_memory_percent = ${memoryPercent}`],
      vm: ['default_memory_mib = 256', 'max_memory_mib = 512', 'max_vcpus = 2'],
    });
    kernel = await f.installTinyKernel();
    await f.putImage('img-hv');
    await f.call('ensureBridge', { bridge: f.bridge, gatewayCidr: f.gatewayCidr, mtu: 0 });
    tap = (await f.call('acquireTap', { vmId, bridge: f.bridge })).tap;
    await f.call('createOverlay', { vmId, image: 'img-hv' });
    await f.call('createWorkDisk', { vmId, image: 'img-hv', sizeBytes: GiB });
    spec = helperv2.HypervisorSpec.fromPartial({
      vmId,
      kind: helperv2.HypervisorKind.HYPERVISOR_KIND_QEMU,
      memoryMib: 256,
      vcpus: 1,
      kernel,
      cmdline: [
        { key: 'console', value: 'ttyS0' },
        { key: 'panic', value: '-1' },
        { key: 'banger.test', value: 'daemon-1' },
      ],
      workDisk: true,
      network: { mac: '02:42:0a:d5:00:07' },
    });
  });

  afterAll(async () => {
    await f?.close();
  });

  it('InstallKernel put the kernel in the store; ListKernels shows it, a second install is a no-op', async () => {
    const listed = (await f.call('listKernels', {})).kernels;
    expect(listed.map((k) => k.ref)).toEqual([kernel]);
    expect(listed[0]?.vmlinuxSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(await f.call('installKernel', { kernel })).toMatchObject({ installed: false, kernel: { ref: kernel } });
    const st = await stat(path.join(f.helperState, 'kernels', kernel.name, kernel.version, 'vmlinux'));
    // World-readable: the VM's jailed QEMU (a uid of its own) reads it through a bind mount.
    expect([st.uid, st.mode & 0o777]).toEqual([0, 0o644]);
  });

  it('refuses launches it cannot honour, naming the field or the limit, and starts nothing', async () => {
    await f.call('createOverlay', { vmId: 'hv-notap', image: 'img-hv' });
    const R = grpc.status;
    const cases: [string, { spec: helperv2.HypervisorSpec }, grpc.status, string, Record<string, string>][] = [
      ['no tap acquired', launchSpec({ vmId: 'hv-notap', workDisk: false }), R.FAILED_PRECONDITION, 'TAP_NOT_ASSIGNED', { vm_id: 'hv-notap' }],
      ['no disks', launchSpec({ vmId: 'hv-nodisk', workDisk: false, network: undefined }), R.FAILED_PRECONDITION, 'NO_ROOT_DISK', { vm_id: 'hv-nodisk' }],
      ['no work disk', launchSpec({ vmId: 'hv-notap', workDisk: true, network: undefined }), R.FAILED_PRECONDITION, 'NO_WORK_DISK', { vm_id: 'hv-notap' }],
      ['kernel path', launchSpec({ kernel: { name: '../etc', version: kernel.version } }), R.INVALID_ARGUMENT, 'BAD_KERNEL_REF', { field: 'spec.kernel.name' }],
      ['kernel version path', launchSpec({ kernel: { name: kernel.name, version: '../../../etc' } }), R.INVALID_ARGUMENT, 'BAD_KERNEL_REF', { field: 'spec.kernel.version' }],
      ['no kernel', launchSpec({ kernel: undefined }), R.INVALID_ARGUMENT, 'KERNEL_REQUIRED', { field: 'spec.kernel' }],
      ['kernel not installed', launchSpec({ kernel: { name: kernel.name, version: '9.9-never' } }), R.NOT_FOUND, 'KERNEL_NOT_INSTALLED', { field: 'spec.kernel' }],
      ['memory past [vm]', launchSpec({ memoryMib: 1024 }), R.RESOURCE_EXHAUSTED, 'VM_LIMIT_EXCEEDED', { field: 'memory_mib', limit: 'vm.max_memory_mib' }],
      ['vcpus past [vm]', launchSpec({ vcpus: 4 }), R.RESOURCE_EXHAUSTED, 'VM_LIMIT_EXCEEDED', { field: 'vcpus', limit: 'vm.max_vcpus' }],
      ['bad vm id', launchSpec({ vmId: '../x' }), R.INVALID_ARGUMENT, 'BAD_FIELD', { field: 'vm_id' }],
      ['NUL in vm id', launchSpec({ vmId: 'hv\0x' }), R.INVALID_ARGUMENT, 'BAD_FIELD', { field: 'vm_id' }],
      ['forced accel', launchSpec({ accel: helperv2.Accel.ACCEL_KVM }), R.INVALID_ARGUMENT, 'ACCEL_NOT_SELECTABLE', { field: 'spec.accel' }],
      ['firecracker', launchSpec({ kind: helperv2.HypervisorKind.HYPERVISOR_KIND_FIRECRACKER }), R.INVALID_ARGUMENT, 'UNSUPPORTED_HYPERVISOR', { field: 'spec.kind' }],
      ['multicast mac', launchSpec({ network: { mac: '01:00:5e:00:00:01' } }), R.INVALID_ARGUMENT, 'BAD_FIELD', { field: 'net.mac' }],
      ['cmdline key', launchSpec({ cmdline: [{ key: 'modprobe.blacklist', value: 'virtio_blk' }] }), R.INVALID_ARGUMENT, 'KEY_NOT_ALLOWED', {}],
    ];
    for (const [what, req, code, reason, meta] of cases) {
      const e = await f.refused('launchHypervisor', req);
      expect({ what, code: e.code, reason: e.reason }).toEqual({ what, code, reason });
      expect(e.errorMetadata, what).toMatchObject(meta);
    }
    expect((await f.call('listHypervisors', {})).processes).toEqual([]);
    for (const id of [vmId, 'hv-notap', 'hv-nodisk']) await expect(access(f.vmRunDir(id))).rejects.toMatchObject({ code: 'ENOENT' });
    await f.call('removeOverlay', { vmId: 'hv-notap' });
  });

  it('a second deep host probe within the interval is RESOURCE_EXHAUSTED DEEP_PROBE_RATE_LIMITED', async () => {
    const first = await f.call('probeHost', { deep: true });
    expect(first.capabilities?.accel).toMatch(/^(kvm|tcg)$/);
    const again = await f.refused('probeHost', { deep: true });
    expect(again).toMatchObject({ code: grpc.status.RESOURCE_EXHAUSTED, reason: 'DEEP_PROBE_RATE_LIMITED', errorMetadata: { limit: 'privhelper.deep_probe_interval_seconds' } });
    expect(Number(again.errorMetadata['retry_after_seconds'])).toBeGreaterThan(50);
    // A shallow probe is cached and always answered.
    expect((await f.call('probeHost', { deep: false })).capabilities?.accel).toBe(first.capabilities?.accel);
  });

  it('LaunchHypervisor boots the guest (console marker) jailed, on the acquired tap, its disks and tap as descriptors', async () => {
    const t0 = Date.now();
    const res = await f.call('launchHypervisor', { spec });
    const p = res.process!;
    pid = p.pid;
    f.qemuPids.add(pid);
    expect(p).toMatchObject({ vmId, kind: helperv2.HypervisorKind.HYPERVISOR_KIND_QEMU });
    expect(p.sockets?.consoleLogPath).toBe(path.join(f.vmRunDir(vmId), 'console.log'));
    consoleLog = p.sockets!.consoleLogPath;
    const text = await waitForConsole(consoleLog, READY_MARKER, 120_000);
    const bootMs = Date.now() - t0;
    console.info(`[privhelper-hv] accel=${p.accel === helperv2.Accel.ACCEL_KVM ? 'kvm' : 'tcg'} launch→marker ${bootMs} ms (pid ${pid})`);
    expect(text).toMatch(/TINYGUEST-READY cmdline=\[[^\]]*banger\.test=daemon-1/);
    // QEMU sits in an empty network namespace of its own (only lo) and holds the tap as a
    // descriptor; the tap stays in the test's namespace, on the bridge, carrier up.
    const ownNs = await readFile(`/proc/${pid}/net/dev`, 'utf8');
    expect(ownNs).not.toContain(tap);
    const vmNet = (await f.ns.must('readlink', ['/proc/self/ns/net'])).trim();
    expect(await readlink(`/proc/${pid}/ns/net`)).not.toBe(vmNet);
    expect(await readlink(`/proc/${pid}/ns/net`)).not.toBe(await readlink('/proc/self/ns/net'));
    expect(await openFiles(pid)).toContain('/dev/net/tun');
    const link = JSON.parse(await f.ns.must('ip', ['-j', 'link', 'show', 'dev', tap])) as { flags: string[]; master?: string }[];
    expect(link[0]).toMatchObject({ master: f.bridge });
    expect(link[0]?.flags).toContain('LOWER_UP');
    // The installed kernel booted, and the disks went in as descriptors, not names.
    const argv = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');
    // The installed kernel is bind-mounted read-only into the jail at /boot/vmlinux.
    expect(argv[argv.indexOf('-kernel') + 1]).toBe('/boot/vmlinux');
    expect(argv.filter((a) => a.includes('/dev/fdset/'))).toHaveLength(3);
    expect(argv.join(' ')).not.toContain(path.join(f.helperState, 'vms'));
    const disks = path.join(f.helperState, 'vms', vmId);
    expect(await openFiles(pid)).toEqual(expect.arrayContaining([path.join(disks, 'root.qcow2'), path.join(disks, 'work.ext4'), path.join(f.helperState, 'images', 'img-hv', 'rootfs.ext4')]));
    // A retried launch with the same spec returns the same process.
    expect((await f.call('launchHypervisor', { spec })).process?.pid).toBe(pid);
  });

  it('while it runs: its kernel, image and disks cannot be removed, promoted or resized, and the memory quota holds', async () => {
    expect(await f.refused('removeKernel', { kernel })).toMatchObject({ code: grpc.status.FAILED_PRECONDITION, reason: 'KERNEL_IN_USE' });
    expect(await f.refused('removeImage', { image: 'img-hv' })).toMatchObject({ code: grpc.status.FAILED_PRECONDITION, reason: 'IMAGE_IN_USE' });
    expect(await f.refused('promoteVmDisk', { vmId, image: 'promoted-hv' })).toMatchObject({ code: grpc.status.FAILED_PRECONDITION, reason: 'DISK_IN_USE' });
    expect(await f.refused('resizeWorkDisk', { vmId, sizeBytes: 2 * GiB })).toMatchObject({ code: grpc.status.FAILED_PRECONDITION, reason: 'DISK_IN_USE' });
    if (!memoryQuotaTestable) return;
    await f.call('createOverlay', { vmId: 'hv-second', image: 'img-hv' });
    const second = await f.refused('launchHypervisor', launchSpec({ vmId: 'hv-second', workDisk: false, network: undefined }));
    expect(second).toMatchObject({ code: grpc.status.RESOURCE_EXHAUSTED, reason: 'GUEST_MEMORY_QUOTA_EXCEEDED', errorMetadata: { field: 'memory_mib', limit: 'privhelper.max_guest_memory_percent' } });
    expect(second.message).toContain(`${memoryQuotaMiB} MiB`);
    expect((await f.call('listHypervisors', {})).processes.map((x) => x.vmId)).toEqual([vmId]);
    await f.call('removeOverlay', { vmId: 'hv-second' });
  });

  it('shares the agent socket and console log with the client group only, never QMP', async () => {
    const run = f.vmRunDir(vmId);
    // The client group is `banger`, as under the units (vmd runs in it).
    const client = bangerAccount().gid;
    const mode = async (p: string): Promise<[number, number, number]> => {
      const st = await stat(p);
      return [st.mode & 0o777, st.uid, st.gid];
    };
    expect(await mode(run)).toEqual([0o750, 0, client]);
    expect(await mode(path.join(run, 'agent.sock'))).toEqual([0o660, 0, client]);
    expect(await mode(path.join(run, 'console.log'))).toEqual([0o640, 0, client]);
    expect((await mode(path.join(run, 'qmp.sock')))[2]).toBe(0);
    // As an unprivileged process: in the group it reaches the agent socket, outside it not
    // (the layout's run directories are traversable by anyone; the VM's run dir is not).
    const tryConnect = (gid: number): Promise<string> =>
      new Promise((resolve) => {
        const child = spawn(process.execPath, ['-e', `require('net').connect(${JSON.stringify(path.join(run, 'agent.sock'))}).on('connect',()=>{console.log('connected');process.exit(0)}).on('error',(e)=>{console.log(e.code);process.exit(0)})`], {
          uid: 65534,
          gid,
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        let out = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        child.on('exit', () => resolve(out.trim()));
      });
    expect(await tryConnect(client)).toBe('connected');
    expect(await tryConnect(1)).toBe('EACCES');
  });

  it('FindHypervisor and ListHypervisors report the running process', async () => {
    expect((await f.call('findHypervisor', { vmId })).process).toMatchObject({ vmId, pid });
    const list = await f.call('listHypervisors', {});
    expect(list.processes.map((x) => [x.vmId, x.pid])).toContainEqual([vmId, pid]);
  });

  it('the VM survives a privhelper restart (SIGTERM + start), and the new helper finds the same pid', async () => {
    const oldHelper = f.daemon.child.pid;
    const { exitCode } = await f.restartDaemon();
    expect(exitCode).toBe(0);
    expect(f.daemon.child.pid).not.toBe(oldHelper);
    expect(await isAlive(pid)).toBe(true);
    expect((await f.call('findHypervisor', { vmId })).process).toMatchObject({ vmId, pid });
    expect((await f.call('listHypervisors', {})).processes.map((x) => x.pid)).toContain(pid);
    // A bounded wait on a running VM times out as exited=false, not as an error.
    expect(await f.call('waitHypervisor', { vmId, timeout: { seconds: 1, nanos: 0 } })).toMatchObject({ exited: false });
    // The tap pool rebuilt the assignment from the kernel: the VM still owns its tap.
    expect(await f.call('acquireTap', { vmId, bridge: '' })).toEqual({ tap, existing: true });
    // The new helper knows the kernel runs (from the launch record), so it still refuses to remove it.
    expect((await f.refused('removeKernel', { kernel })).reason).toBe('KERNEL_IN_USE');
  });

  it('StopHypervisor shuts the guest down gracefully; FindHypervisor then answers NOT_FOUND VM_NOT_RUNNING', async () => {
    const t0 = Date.now();
    const res = await f.call('stopHypervisor', { vmId, timeout: { seconds: 30, nanos: 0 } });
    console.info(`[privhelper-hv] graceful stop ${Date.now() - t0} ms`);
    expect(res).toMatchObject({ wasRunning: true, forced: false });
    expect(await isAlive(pid)).toBe(false);
    expect(await f.call('waitHypervisor', { vmId, timeout: { seconds: 1, nanos: 0 } })).toMatchObject({ exited: true });
    expect(await readFile(consoleLog, 'utf8')).toContain(STOP_MARKER);
    const nf = await f.refused('findHypervisor', { vmId });
    expect(nf).toMatchObject({ code: grpc.status.NOT_FOUND, reason: 'VM_NOT_RUNNING' });
    expect(await f.call('stopHypervisor', { vmId })).toMatchObject({ wasRunning: false, forced: false });
    expect((await f.call('listHypervisors', {})).processes.map((x) => x.vmId)).not.toContain(vmId);
    expect(await f.call('releaseTap', { vmId })).toEqual({ tap });
    // Stopped, its disk can be grown and promoted, and nothing runs the kernel any more.
    expect(await f.call('resizeWorkDisk', { vmId, sizeBytes: 2 * GiB })).toEqual({ previousSizeBytes: GiB, sizeBytes: 2 * GiB });
    expect(await f.call('promoteVmDisk', { vmId, image: 'promoted-hv' })).toMatchObject({ image: 'promoted-hv', baseImage: 'img-hv' });
    await f.call('removeWorkDisk', { vmId });
    await f.call('removeOverlay', { vmId });
    expect(await f.call('removeKernel', { kernel })).toEqual({ removed: true });
    expect((await f.call('listKernels', {})).kernels).toEqual([]);
  });

  it('every call across both helper processes left exactly one completion line with op id and duration_ms', async () => {
    expect(f.daemons).toHaveLength(2);
    expect(await f.completionProblems()).toEqual([]);
    for (const d of f.daemons) expect(d.stray).toEqual([]);
    expect(f.alive()).toBe(true);
  });
});
