import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { launchRequest, QCOW2, vmId } from './attacks/requests.js';
import { plantRunDir, pointRunVmsAt } from './attacks/run-dir.js';
import { launchAsAttacker, outcomeLine, overlayFor } from './attacks/vm.js';
import { securityUnavailableReason, useHarness } from './harness.js';

/**
 * Issue 11, item 2: privhelper writes, chowns and chmods files by path in `<run>/vms/<id>/`,
 * inside the banger-owned run dir. Safe: whatever the attacker planted there, no victim file
 * changes content, owner or mode.
 *
 * v2 (root-owned run root): the attacker can no longer rename `<run>/vms` or create files in
 * it; the same steps then fail with EACCES before the launch, and the assertions are unchanged.
 * The per-file shares (agent socket, console log) must be made on fds privhelper created.
 */
const skip = await securityUnavailableReason({ guest: true });
if (skip) console.warn(`[skip] security: VM run dir: ${skip}`);

describe.skipIf(skip !== undefined)('security: a VM run dir in the caller-owned run dir', () => {
  const ctx = useHarness({ guest: true });

  it('planted symlinks (console.log, qemu.log, launch.json -> victims): launching the VM does not write, chown or chmod the victims', async () => {
    const { h } = ctx;
    const v = await h.victims();
    const before = await h.hostSnapshot(v);
    const id = vmId('links');
    const root = await overlayFor(h, id, h.guest!.base);
    await plantRunDir(h.attacker, h.runDir, id, {
      'console.log': v.secret,
      'qemu.log': path.join(v.dir, 'passwd'),
      'launch.json': path.join(v.dir, 'hosts'),
    });
    const r = await launchAsAttacker(h, launchRequest({ vmId: id, guest: h.guest!, root: { path: root, format: QCOW2 } }));
    // The console keeps being written while the guest boots: give it a moment to show.
    await new Promise((res) => setTimeout(res, 1500));
    expect(await h.hostChanges(v, before), `launch ${outcomeLine(r)}`).toEqual([]);
  });

  it('<run>/vms renamed to a symlink to a victim directory: a launch does not chown or chmod that directory', async () => {
    const { h } = ctx;
    const v = await h.victims();
    const before = await h.hostSnapshot(v);
    const id = vmId('vmsdir');
    const root = await overlayFor(h, id, h.guest!.base);
    await pointRunVmsAt(h.attacker, h.runDir, v.dir);
    const r = await launchAsAttacker(h, launchRequest({ vmId: id, guest: h.guest!, root: { path: root, format: QCOW2 } }));
    const changes = await h.hostChanges(v, before);
    await h.attacker.rm(path.join(h.runDir, 'vms'));
    expect(changes, `launch ${outcomeLine(r)}`).toEqual([]);
  });

  /**
   * Found while reading qemu/driver.ts: privhelper chowns the run dir to root before QEMU
   * starts, but after QEMU is up it still chowns agent.sock and console.log and writes
   * launch.json by path under `<run>/vms`, a name in the banger-owned run dir. The attacker
   * exchanges `<run>/vms` (RENAME_EXCHANGE, atomic) with a tree of its own the moment QEMU
   * creates agent.sock (inotify on the root:banger 0750 dir it may read), so those paths now
   * lead to victims. Its tree keeps qemu.pid pointing at the real one, so privhelper still
   * recognises its QEMU. This is a VM restart: the run dir exists from the VM's first launch.
   */
  it('<run>/vms exchanged for an attacker tree as soon as QEMU creates agent.sock: privhelper does not chown, chmod or write the victims', async () => {
    const { h } = ctx;
    const v = await h.victims();
    const id = vmId('swap');
    const root = await overlayFor(h, id, h.guest!.base);
    const first = await launchAsAttacker(h, launchRequest({ vmId: id, guest: h.guest!, root: { path: root, format: QCOW2 } }));
    expect(first.ok, `first launch ${outcomeLine(first)}`).toBe(true);
    expect((await h.attacker.call('killHypervisor', { vmId: id })).ok).toBe(true);
    const before = await h.hostSnapshot(v);
    const vms = path.join(h.runDir, 'vms');
    const evil = path.join(h.runDir, 'vms.evil');
    await h.attacker.mkdir(path.join(evil, id));
    for (const [name, target] of Object.entries({
      'agent.sock': path.join(v.dir, 'shadow'),
      'console.log': path.join(v.dir, 'sudoers'),
      'launch.json': path.join(v.dir, 'crontab'),
      'qemu.pid': path.join('..', '..', 'vms.evil', id, 'qemu.pid'),
    })) {
      await h.attacker.symlink(target, path.join(evil, id, name));
    }
    const racer = await h.attacker.racer('exchange-on', [path.join(vms, id), 'agent.sock', `${vms}:${evil}`]);
    const r = await launchAsAttacker(h, launchRequest({ vmId: id, guest: h.guest!, root: { path: root, format: QCOW2 } }));
    const raced = await racer.stop();
    await new Promise((res) => setTimeout(res, 1000));
    expect(await h.hostChanges(v, before), `relaunch ${outcomeLine(r)}; racer exchanged ${raced.hits}x`).toEqual([]);
  });
});
