import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { qcow2Seed, qcow2WithBackingFile, qcow2WithDataFile } from './attacks/disk-images.js';
import { createWorkDiskRequest, launchRequest, QCOW2, vmId } from './attacks/requests.js';
import { launchAsAttacker, outcomeLine, overlayFor } from './attacks/vm.js';
import { securityUnavailableReason, useHarness, type SecurityHarness } from './harness.js';
import { describeOpenFile } from './lib/procfs.js';
import { cpioNewc, READY_MARKER } from '../harness/tinyguest.js';

/**
 * Issue 11, item 1 and a variant: the caller names the disk files root QEMU opens, and a qcow2
 * header names more files (backing file, external data file) that QEMU then opens as root.
 * Safe: the launch is refused, or QEMU runs without any victim file open.
 */
/** A root-only file the attacker cannot read, whose content happens to be a bootable initramfs that says so. */
const VICTIM_MARKER = 'VICTIM-INITRD-BOOTED';
async function victimInitrd(file: string): Promise<void> {
  const init = `#!/bin/busybox sh\n/bin/busybox echo ${VICTIM_MARKER}\nwhile :; do /bin/busybox sleep 1; done\n`;
  const cpio = cpioNewc([
    { name: 'bin', mode: 0o040755 },
    { name: 'dev', mode: 0o040755 },
    { name: 'dev/console', mode: 0o020600, rdev: [5, 1] },
    { name: 'bin/busybox', mode: 0o100755, data: await readFile('/bin/busybox') },
    { name: 'init', mode: 0o100755, data: Buffer.from(init) },
  ]);
  await writeFile(file, gzipSync(cpio), { mode: 0o600 });
}

async function waitForConsole(file: string, markers: string[], timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = await readFile(file, 'utf8').catch(() => '');
    if (markers.some((m) => text.includes(m)) || Date.now() > deadline) return text;
    await new Promise((r) => setTimeout(r, 200));
  }
}

const skip = await securityUnavailableReason({ guest: true });
if (skip) console.warn(`[skip] security: disk headers: ${skip}`);

describe.skipIf(skip !== undefined)('security: disk headers never make root QEMU open a host file', () => {
  const ctx = useHarness({ guest: true });

  const guest = (): NonNullable<SecurityHarness['guest']> => ctx.h.guest!;

  /**
   * v2 (disks named by id): the attacker cannot pass its own file; it plants the qcow2 where
   * privhelper would look for the VM's disk (today <state>/vms/<id>/root.qcow2) or makes the
   * image base the overlay points at a qcow2. With -blockdev on privhelper's fds, a pinned
   * format and an explicit backing chain, the header's backing name is never opened.
   */
  it('qcow2 backing file: a root disk backed by a root-only file is not opened by QEMU', async () => {
    const { h } = ctx;
    const v = await h.victims();
    const before = await h.hostSnapshot(v);
    expect(await h.attacker.readError(v.secret), 'the attacker itself cannot read the victim').toBe('EACCES');
    const id = vmId('backing');
    const disk = path.join(h.stateDir, 'attacker', id, 'root.qcow2');
    await qcow2WithBackingFile(h.attacker, disk, v.secret);
    const r = await launchAsAttacker(h, launchRequest({ vmId: id, guest: guest(), root: { path: disk, format: QCOW2 } }));
    const holders = (await h.qemuHolding(v)).map(describeOpenFile);
    expect(holders, `launch ${outcomeLine(r)}`).toEqual([]);
    expect(await h.hostChanges(v, before)).toEqual([]);
  });

  /**
   * v2: as above; the data-file name lives in the same header. privhelper must refuse images
   * with an external data file (or open only what it chose, by fd).
   */
  it('qcow2 external data file: a root disk whose raw data file is a root-only file is not opened (no write access for the guest)', async () => {
    const { h } = ctx;
    const v = await h.victims();
    const before = await h.hostSnapshot(v);
    const id = vmId('datafile');
    const disk = path.join(h.stateDir, 'attacker', id, 'root.qcow2');
    await qcow2WithDataFile(h.attacker, disk, v.secret);
    const r = await launchAsAttacker(h, launchRequest({ vmId: id, guest: guest(), root: { path: disk, format: QCOW2 } }));
    const holders = (await h.qemuHolding(v)).map(describeOpenFile);
    expect(holders, `launch ${outcomeLine(r)}`).toEqual([]);
    expect(await h.hostChanges(v, before)).toEqual([]);
  });

  /**
   * The work disk is raw and the guest writes all of it. Here the attacker controls its first
   * bytes through the work seed (an image file it owns), and asks for the disk as qcow2.
   * v2: privhelper pins the format of the disks it created (work disks raw); the request has no
   * format field, so the attack is "a guest writes a qcow2 header into its work disk, then the
   * VM is relaunched": the disk must still be opened raw.
   */
  it('raw work disk launched as qcow2: a work disk whose content is a qcow2 header does not make QEMU open the victim', async () => {
    const { h } = ctx;
    const v = await h.victims();
    const before = await h.hostSnapshot(v);
    const id = vmId('workq');
    const seed = path.join(h.stateDir, 'images', 'attacker', id, 'work-seed.ext4');
    const size = await qcow2Seed(h.attacker, seed, v.secret);
    const work = await h.attacker.call('createWorkDisk', createWorkDiskRequest(id, seed, size));
    expect(work.ok, `CreateWorkDisk ${outcomeLine(work)}`).toBe(true);
    const root = await overlayFor(h, id, guest().base);
    const workPath = work.ok ? work.res.path : '';
    const r = await launchAsAttacker(h, launchRequest({ vmId: id, guest: guest(), root: { path: root, format: QCOW2 }, work: { path: workPath, format: QCOW2 } }));
    const holders = (await h.qemuHolding(v)).map(describeOpenFile);
    expect(holders, `launch ${outcomeLine(r)}`).toEqual([]);
    expect(await h.hostChanges(v, before)).toEqual([]);
  });

  /**
   * Found while reading disk/manager.ts: CreateOverlay records the base by path, and the base
   * lives in the caller-owned images dir. After privhelper made the overlay, the attacker turns
   * the base into a symlink; QEMU follows it when it opens the backing chain.
   * v2: the same, unless images live in a root-owned store and the backing node is opened by
   * privhelper (O_NOFOLLOW) and passed by fd.
   */
  it("overlay base swapped for a symlink: privhelper's own overlay does not open the victim as its backing file", async () => {
    const { h } = ctx;
    const v = await h.victims();
    const before = await h.hostSnapshot(v);
    const id = vmId('base');
    const base = path.join(h.stateDir, 'images', 'attacker', id, 'rootfs.ext4');
    await h.attacker.mkdir(path.dirname(base));
    await h.attacker.must('cp', [guest().base, base]);
    const overlay = await overlayFor(h, id, base);
    await h.attacker.rm(base);
    await h.attacker.symlink(v.secret, base);
    const r = await launchAsAttacker(h, launchRequest({ vmId: id, guest: guest(), root: { path: overlay, format: QCOW2 } }));
    const holders = (await h.qemuHolding(v)).map(describeOpenFile);
    expect(holders, `launch ${outcomeLine(r)}`).toEqual([]);
    expect(await h.hostChanges(v, before)).toEqual([]);
  });

  /**
   * Found in vmspec/spec.ts and qemu/driver.ts: kernel_path and initrd_path are confined by
   * realpath when the request arrives, and QEMU opens them by path later. QEMU creates its
   * chardevs (agent.sock) before it loads the initrd, so a racer watching the VM's run dir
   * exchanges the attacker's initrd with a symlink to a root-only file at that moment. The
   * victim here is a bootable initramfs, so the console (readable by group banger) proves the
   * guest received its content. This is a VM restart: the run dir exists from a first launch.
   * v2 (kernel ids from privhelper's root-owned store, opened by fd): the attacker cannot name
   * its own initrd; the racer pointed at the store gets EACCES.
   */
  it('initrd exchanged for a symlink after the path check (when QEMU creates agent.sock): the guest does not boot a root-only file', async () => {
    const { h } = ctx;
    const v = await h.victims();
    const secretInitrd = path.join(v.root, 'initrd-secret');
    await victimInitrd(secretInitrd);
    const before = await h.hostSnapshot(v);
    expect(await h.attacker.readError(secretInitrd)).toBe('EACCES');
    const id = vmId('initrd');
    const dir = path.join(h.stateDir, 'images', 'attacker', id);
    const initrd = path.join(dir, 'initrd.cpio.gz');
    await h.attacker.mkdir(dir);
    await h.attacker.must('cp', [guest().initrd, initrd]);
    await h.attacker.symlink(secretInitrd, path.join(dir, 'initrd.link'));
    const root = await overlayFor(h, id, guest().base);
    const req = launchRequest({ vmId: id, guest: guest(), root: { path: root, format: QCOW2 }, initrdPath: initrd });
    const first = await launchAsAttacker(h, req);
    expect(first.ok, `first launch ${outcomeLine(first)}`).toBe(true);
    expect((await h.attacker.call('killHypervisor', { vmId: id })).ok).toBe(true);
    const racer = await h.attacker.racer('exchange-on', [path.join(h.runDir, 'vms', id), 'agent.sock', `${initrd}:${path.join(dir, 'initrd.link')}`]);
    const r = await launchAsAttacker(h, req);
    const raced = await racer.stop();
    const consoleLog = path.join(h.runDir, 'vms', id, 'console.log');
    const text = r.ok ? await waitForConsole(consoleLog, [VICTIM_MARKER, READY_MARKER], 90_000) : '';
    const line = text.split('\n').find((l) => l.includes(VICTIM_MARKER) || l.includes(READY_MARKER)) ?? '(no marker)';
    expect(text.includes(VICTIM_MARKER), `relaunch ${outcomeLine(r)}; racer exchanged ${raced.hits}x; console: ${line.trim()}`).toBe(false);
    expect(await h.hostChanges(v, before)).toEqual([]);
  });
});
