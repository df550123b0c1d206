import { execFile } from 'node:child_process';
import { copyFile, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { qcow2WithBackingFile, qcow2WithDataFile } from './attacks/disk-images.js';
import { launchRequest, vmId } from './attacks/requests.js';
import { disksFor, launchAsAttacker, outcomeLine, verdict } from './attacks/vm.js';
import { securityUnavailableReason, useHarness, type SecurityHarness } from './harness.js';
import { describeOpenFile, qemuHolding } from './lib/procfs.js';
import { racerLine } from './lib/attacker.js';
import { evidence } from './lib/evidence.js';
import { cpioNewc, READY_MARKER } from '../harness/tinyguest.js';

const run = promisify(execFile);

/**
 * Issue 11, item 1 and its variants: a disk header names more files (backing file, external
 * data file) that QEMU would open as root. In v2 callers name a VM, privhelper creates its
 * disks in a root-only directory, opens them itself and gives QEMU fd-backed -blockdev nodes
 * with the backing chain and formats pinned. Each test first shows the attacker cannot put
 * its file where privhelper looks (EACCES), then plants the same file there as root, to prove
 * privhelper itself refuses or ignores what the header says.
 */
const VICTIM_MARKER = 'VICTIM-INITRD-BOOTED';

/** A root-only file the attacker cannot read, whose content happens to be a bootable initramfs that says so. */
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

/** Disk files QEMU holds for the launched VM, for the evidence line. */
async function qemuDiskFds(h: SecurityHarness): Promise<string> {
  const open = await qemuHolding(h.helper.stateRoot);
  return [...new Set(open.map((f) => `${path.basename(path.dirname(f.path))}/${path.basename(f.path)} (${f.access})`))].join(', ') || 'none';
}

const skip = await securityUnavailableReason({ guest: true });
if (skip) console.warn(`[skip] security: disk headers: ${skip}`);

describe.skipIf(skip !== undefined)('security: disk headers never make root QEMU open a host file', () => {
  const ctx = useHarness({ guest: true });

  /** The attacker's qcow2 (made in its home) copied by root over a VM's overlay, after the attacker's own write was refused. */
  async function plantOverlay(h: SecurityHarness, id: string, make: (disk: string) => Promise<void>): Promise<{ overlay: string; attackerWrite: string }> {
    const { overlay } = await disksFor(h, id);
    const mine = path.join(h.launch.home, `${id}.qcow2`);
    await make(mine);
    const attackerWrite = await h.attacker.attempt('writeFile', { path: overlay, data: (await readFile(mine)).toString('base64') });
    await copyFile(mine, overlay);
    return { overlay, attackerWrite };
  }

  it('qcow2 backing file: an overlay whose header names a root-only file as backing does not make QEMU open it', async () => {
    const { h } = ctx;
    const v = await h.victims();
    const before = await h.hostSnapshot(v);
    expect(await h.attacker.readError(v.secret), 'the attacker itself cannot read the victim').toBe('EACCES');
    const id = vmId('backing');
    const { attackerWrite } = await plantOverlay(h, id, (disk) => qcow2WithBackingFile(h.attacker, disk, v.secret));
    expect(attackerWrite, "the attacker's own write to the VM's overlay").toBe('EACCES');
    const r = await launchAsAttacker(h, launchRequest({ vmId: id, kernel: h.tiny.ref }));
    const holders = (await h.qemuHolding(v)).map(describeOpenFile);
    evidence(`attacker's write to the overlay: ${attackerWrite}; root-planted header (backing ${v.secret}): launch ${outcomeLine(r)}; QEMU holds ${await qemuDiskFds(h)}; victim held: ${holders.length}`);
    expect(holders, `launch ${outcomeLine(r)}; QEMU holds ${await qemuDiskFds(h)}`).toEqual([]);
    expect(r.ok, `launch ${outcomeLine(r)}: the header's backing name is ignored, the chain is pinned`).toBe(true);
    expect(await h.hostChanges(v, before)).toEqual([]);
  });

  it('qcow2 external data file: an overlay whose header names a root-only data file is refused before QEMU starts', async () => {
    const { h } = ctx;
    const v = await h.victims();
    const before = await h.hostSnapshot(v);
    const id = vmId('datafile');
    const { attackerWrite } = await plantOverlay(h, id, (disk) => qcow2WithDataFile(h.attacker, disk, v.secret));
    expect(attackerWrite).toBe('EACCES');
    const r = await launchAsAttacker(h, launchRequest({ vmId: id, kernel: h.tiny.ref }));
    evidence(`attacker's write: ${attackerWrite}; root-planted data-file header: launch ${outcomeLine(r)}`);
    expect((await h.qemuHolding(v)).map(describeOpenFile), `launch ${outcomeLine(r)}`).toEqual([]);
    expect(verdict(r), outcomeLine(r)).toBe('FAILED_PRECONDITION OVERLAY_HEADER_REFUSED');
    expect(outcomeLine(r)).toContain('external data file');
    expect(await h.hostChanges(v, before)).toEqual([]);
  });

  /**
   * v1 let the caller launch its raw work disk as qcow2. v2 has no format field; the attack is
   * the guest writing a qcow2 header (backing file: the victim) into its raw work disk, then
   * the VM being launched again: the work disk must still be opened raw.
   */
  it('work disk whose content is a qcow2 header naming a root-only file: relaunched, it is still raw and the victim is not opened', async () => {
    const { h } = ctx;
    const v = await h.victims();
    const before = await h.hostSnapshot(v);
    const id = vmId('workq');
    const { work } = await disksFor(h, id, { workGib: 1 });
    const header = path.join(h.launch.home, `${id}-header.qcow2`);
    await qcow2WithBackingFile(h.attacker, header, v.secret);
    expect(await h.attacker.attempt('writeFile', { path: work ?? '', data: '' }), "the attacker's own write to the work disk").toBe('EACCES');
    // What the guest could write to its own disk: the header at offset 0.
    await run('dd', [`if=${header}`, `of=${work ?? ''}`, 'conv=notrunc', 'status=none']);
    const r = await launchAsAttacker(h, launchRequest({ vmId: id, kernel: h.tiny.ref, workDisk: true }));
    evidence(`attacker's write to work.ext4: EACCES; qcow2 header (backing ${v.secret}) at offset 0: launch ${outcomeLine(r)}; QEMU holds ${await qemuDiskFds(h)}`);
    expect((await h.qemuHolding(v)).map(describeOpenFile), `launch ${outcomeLine(r)}; QEMU holds ${await qemuDiskFds(h)}`).toEqual([]);
    expect(r.ok, outcomeLine(r)).toBe(true);
    expect(await h.hostChanges(v, before)).toEqual([]);
  });

  /**
   * v1 recorded an overlay's base by path in a caller-owned images dir, so the attacker swapped
   * the base for a symlink after the overlay was made. v2 keeps images in privhelper's store and
   * opens the recorded base itself (O_NOFOLLOW): the attacker's rename there is refused, and a
   * base that is a symlink (planted as root) is refused at launch.
   */
  it("overlay base swapped for a symlink: privhelper's own overlay does not open the victim as its backing file", async () => {
    const { h } = ctx;
    const v = await h.victims();
    const before = await h.hostSnapshot(v);
    const img = await h.addStoreImage('swapbase');
    const id = vmId('base');
    await disksFor(h, id, { image: img.id });
    const aside = path.join(h.launch.home, 'link');
    await h.attacker.symlink(v.secret, aside);
    expect(await h.attacker.renameError(aside, img.rootfs), "the attacker's rename over the image's rootfs").toBe('EACCES');
    expect(await h.attacker.renameError(img.dir, `${img.dir}.aside`), "the attacker's rename of the image dir").toBe('EACCES');
    await rm(img.rootfs);
    await symlink(v.secret, img.rootfs);
    const r = await launchAsAttacker(h, launchRequest({ vmId: id, kernel: h.tiny.ref }));
    evidence(`attacker's renames: EACCES; image rootfs.ext4 -> victim (root-planted): launch ${outcomeLine(r)}`);
    expect((await h.qemuHolding(v)).map(describeOpenFile), `launch ${outcomeLine(r)}`).toEqual([]);
    expect(r.ok, outcomeLine(r)).toBe(false);
    expect(await h.hostChanges(v, before)).toEqual([]);
  });

  /**
   * v1 confined kernel_path/initrd_path by realpath and QEMU opened them later by path; a racer
   * exchanged the initrd for a symlink when QEMU created agent.sock. v2 boots only kernels from
   * privhelper's store (root's copies): for the whole relaunch one racer exchanges the store's
   * initrd (refused: EACCES) and another exchanges the attacker's own staged initrd for a link
   * to a root-only initramfs (works, but the store holds copies). The guest must boot the
   * legitimate initrd: the console (readable by group banger) shows which one ran.
   */
  it('initrd exchanged for a symlink when QEMU creates agent.sock (store copy and staged file): the guest does not boot a root-only file', async () => {
    const { h } = ctx;
    const v = await h.victims();
    const secretInitrd = path.join(v.root, 'initrd-secret');
    await victimInitrd(secretInitrd);
    const before = await h.hostSnapshot(v);
    expect(await h.attacker.readError(secretInitrd)).toBe('EACCES');
    const id = vmId('initrd');
    await disksFor(h, id);
    const req = launchRequest({ vmId: id, kernel: h.tiny.ref });
    const first = await launchAsAttacker(h, req);
    expect(first.ok, `first launch ${outcomeLine(first)}`).toBe(true);
    expect((await h.attacker.call('killHypervisor', { vmId: id })).ok).toBe(true);
    const runDir = path.join(h.helper.runVmsDir, id);
    const storeDir = path.join(h.helper.kernelsDir, h.tiny.ref.name, h.tiny.ref.version);
    const staged = path.join(h.tiny.stagingDir, 'initrd.img');
    await h.attacker.symlink(secretInitrd, path.join(h.tiny.stagingDir, 'initrd.link'));
    const storeLink = path.join(h.launch.home, 'store-initrd.link');
    await h.attacker.symlink(secretInitrd, storeLink);
    const onStore = await h.attacker.racer('exchange-on', [runDir, 'agent.sock', `${path.join(storeDir, 'initrd.img')}:${storeLink}`]);
    const onStaged = await h.attacker.racer('exchange-on', [runDir, 'agent.sock', `${staged}:${path.join(h.tiny.stagingDir, 'initrd.link')}`]);
    const r = await launchAsAttacker(h, req);
    const store = await onStore.stop();
    const stagedRace = await onStaged.stop();
    const consoleLog = path.join(runDir, 'console.log');
    const text = r.ok ? await waitForConsole(consoleLog, [VICTIM_MARKER, READY_MARKER], 90_000) : '';
    const line = text.split('\n').find((l) => l.includes(VICTIM_MARKER) || l.includes(READY_MARKER)) ?? '(no marker)';
    const seen = `relaunch ${outcomeLine(r)}; store ${racerLine(store)}; staged ${racerLine(stagedRace)}; console: ${line.trim().slice(0, 60)}`;
    evidence(seen);
    expect({ victimBooted: text.includes(VICTIM_MARKER), legitBooted: text.includes(READY_MARKER) }, seen).toEqual({ victimBooted: false, legitBooted: true });
    expect({ storeSwaps: store.swaps, storeRefusal: store.lastErrno }, seen).toEqual({ storeSwaps: 0, storeRefusal: 'EACCES' });
    // Put the staged kernel back as it was for the rest of the file.
    if (stagedRace.swaps % 2 === 1) await h.attacker.rename(path.join(h.tiny.stagingDir, 'initrd.link'), staged);
    expect(await h.hostChanges(v, before)).toEqual([]);
  });
});
