import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { chmod, copyFile, mkdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import * as grpc from '@grpc/grpc-js';
import { helperv2 } from '@banger/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAlive } from '../../services/privhelper/src/adapters/proc/pids.js';
import { buildTinyGuest, READY_MARKER, STOP_MARKER, tinyGuestUnavailableReason } from '../harness/tinyguest.js';
import { HelperFixture, helperUnavailableReason, makeExt4 } from './setup.js';

const skip = (await helperUnavailableReason({ qemu: true })) ?? (await tinyGuestUnavailableReason()) ?? undefined;
if (skip) console.warn(`[skip] privhelper hypervisor verbs over gRPC: ${skip}`);

async function waitForConsole(file: string, marker: string, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = await readFile(file, 'utf8').catch(() => '');
    if (text.includes(marker)) return text;
    if (Date.now() > deadline) throw new Error(`no ${marker} in ${file} after ${timeoutMs} ms; tail: ${text.slice(-800)}`);
    await sleep(100);
  }
}

describe.skipIf(skip !== undefined)('privhelper daemon: a real tiny guest launched, found after a helper restart, stopped', () => {
  let f: HelperFixture;
  const vmId = `hv-${randomBytes(3).toString('hex')}`;
  let spec: helperv2.HypervisorSpec;
  let pid = 0;
  let consoleLog = '';
  let tap = '';

  beforeAll(async () => {
    f = await HelperFixture.start();
    const images = path.join(f.stateDir, 'images');
    await mkdir(images, { recursive: true });
    const guest = await buildTinyGuest();
    // Launch paths must lie in the helper's state dir, so the cached guest is copied in.
    await copyFile(guest.kernelPath, path.join(images, 'vmlinuz'));
    await copyFile(guest.initrdPath, path.join(images, 'initrd.cpio.gz'));
    await makeExt4(path.join(images, 'base.ext4'));
    await f.call('ensureBridge', { bridge: f.bridge, gatewayCidr: f.gatewayCidr, mtu: 0 });
    tap = (await f.call('acquireTap', { vmId, bridge: f.bridge })).tap;
    const overlay = await f.call('createOverlay', helperv2.CreateOverlayRequest.fromPartial({ vmId, basePath: path.join(images, 'base.ext4'), format: helperv2.DiskFormat.DISK_FORMAT_QCOW2 }));
    spec = helperv2.HypervisorSpec.fromPartial({
      vmId,
      kind: helperv2.HypervisorKind.HYPERVISOR_KIND_QEMU,
      memoryMib: 256,
      vcpus: 1,
      kernelPath: path.join(images, 'vmlinuz'),
      initrdPath: path.join(images, 'initrd.cpio.gz'),
      cmdline: [
        { key: 'console', value: 'ttyS0' },
        { key: 'panic', value: '-1' },
        { key: 'banger.test', value: 'daemon-1' },
      ],
      disks: [{ id: 'root', path: overlay.path, format: helperv2.DiskFormat.DISK_FORMAT_QCOW2 }],
      network: { tap, mac: '02:42:0a:d5:00:07' },
    });
  });

  afterAll(async () => {
    await f?.close();
  });

  it('LaunchHypervisor boots the guest (console marker), inside the netns on the acquired tap', async () => {
    const t0 = Date.now();
    const res = await f.call('launchHypervisor', { spec });
    const p = res.process!;
    pid = p.pid;
    f.qemuPids.add(pid);
    expect(p).toMatchObject({ vmId, kind: helperv2.HypervisorKind.HYPERVISOR_KIND_QEMU });
    expect(p.sockets?.consoleLogPath).toBe(path.join(f.runDir, 'vms', vmId, 'console.log'));
    consoleLog = p.sockets!.consoleLogPath;
    const text = await waitForConsole(consoleLog, READY_MARKER, 120_000);
    const bootMs = Date.now() - t0;
    console.info(`[privhelper-hv] accel=${p.accel === helperv2.Accel.ACCEL_KVM ? 'kvm' : 'tcg'} launch→marker ${bootMs} ms (pid ${pid})`);
    expect(text).toMatch(/TINYGUEST-READY cmdline=\[[^\]]*banger\.test=daemon-1/);
    // QEMU runs in the test's namespace and holds the tap (carrier up).
    const ownNs = await readFile(`/proc/${pid}/net/dev`, 'utf8');
    expect(ownNs).toContain(tap);
    const link = JSON.parse(await f.ns.must('ip', ['-j', 'link', 'show', 'dev', tap])) as { flags: string[]; master?: string }[];
    expect(link[0]).toMatchObject({ master: f.bridge });
    expect(link[0]?.flags).toContain('LOWER_UP');
    // A retried launch with the same spec returns the same process.
    expect((await f.call('launchHypervisor', { spec })).process?.pid).toBe(pid);
  });

  it("shares the agent socket and console log with the client group only, never QMP", async () => {
    const run = path.join(f.runDir, 'vms', vmId);
    const nogroup = 65534;
    const mode = async (p: string): Promise<[number, number, number]> => {
      const st = await stat(p);
      return [st.mode & 0o777, st.uid, st.gid];
    };
    expect(await mode(run)).toEqual([0o750, 0, nogroup]);
    expect(await mode(path.join(run, 'agent.sock'))).toEqual([0o660, 0, nogroup]);
    expect(await mode(path.join(run, 'console.log'))).toEqual([0o640, 0, nogroup]);
    expect((await mode(path.join(run, 'qmp.sock')))[2]).toBe(0);
    // As an unprivileged process: in the group it reaches the agent socket, outside it not.
    // (The test's own temp dirs are made traversable for this; the helper's are not touched.)
    for (let d = f.runDir; d !== path.dirname(d) && d.startsWith(f.stack.dir); d = path.dirname(d)) await chmod(d, 0o711);
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
    expect(await tryConnect(nogroup)).toBe('connected');
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
  });

  it('every call across both helper processes left exactly one completion line with op id and duration_ms', async () => {
    expect(f.daemons).toHaveLength(2);
    expect(await f.completionProblems()).toEqual([]);
    for (const d of f.daemons) expect(d.stray).toEqual([]);
    expect(f.alive()).toBe(true);
  });
});
