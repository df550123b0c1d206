import { lstat, rm, symlink } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { launchRequest, vmId } from './attacks/requests.js';
import { disksFor, launchAsAttacker, outcomeLine } from './attacks/vm.js';
import { securityUnavailableReason, useHarness, type SecurityHarness } from './harness.js';
import { racerLine } from './lib/attacker.js';
import { evidence } from './lib/evidence.js';

/**
 * Issue 11, item 2: privhelper wrote, chowned and chmodded files by path in `<run>/vms/<id>/`,
 * inside the banger-owned run dir. v2 keeps VM run dirs in `<run>/helper/vms/` (root 0711),
 * each `root:banger 0750`; the run dir itself is root-owned and sticky, so the attacker can
 * neither create nor rename anything privhelper made there. Each test shows the attacker's
 * step refused, and where it makes sense plants the same links as root.
 */
const skip = await securityUnavailableReason({ guest: true });
if (skip) console.warn(`[skip] security: VM run dir: ${skip}`);

/** Owner, group and mode of a VM's run files, for the evidence line. */
async function runFiles(dir: string): Promise<string> {
  const out: string[] = [];
  for (const name of ['.', 'agent.sock', 'console.log', 'qmp.sock', 'launch.json', 'qemu.log']) {
    const st = await lstat(path.join(dir, name)).catch(() => undefined);
    out.push(st ? `${name} ${st.isSymbolicLink() ? 'LINK ' : ''}${st.uid}:${st.gid} ${(st.mode & 0o7777).toString(8)}` : `${name} absent`);
  }
  return out.join(', ');
}

describe.skipIf(skip !== undefined)('security: VM run directories', () => {
  const ctx = useHarness({ guest: true });

  /** A VM launched once and killed: its run dir exists, as for any restart. */
  async function launchedOnce(h: SecurityHarness, prefix: string): Promise<{ id: string; dir: string }> {
    const id = vmId(prefix);
    await disksFor(h, id);
    const r = await launchAsAttacker(h, launchRequest({ vmId: id, kernel: h.tiny.ref }));
    if (!r.ok) throw new Error(`first launch: ${outcomeLine(r)}`);
    const k = await h.attacker.call('killHypervisor', { vmId: id });
    if (!k.ok) throw new Error(`kill: ${outcomeLine(k)}`);
    return { id, dir: path.join(h.helper.runVmsDir, id) };
  }

  it('planted symlinks (console.log, qemu.log, launch.json, sockets -> victims): relaunching does not write, chown or chmod the victims', async () => {
    const { h } = ctx;
    const v = await h.victims();
    const before = await h.hostSnapshot(v);
    const { id, dir } = await launchedOnce(h, 'links');
    const targets: Record<string, string> = {
      'console.log': v.secret,
      'qemu.log': path.join(v.dir, 'passwd'),
      'launch.json': path.join(v.dir, 'hosts'),
      'agent.sock': path.join(v.dir, 'shadow'),
      'qmp.sock': path.join(v.dir, 'group'),
    };
    const refused: string[] = [];
    for (const [name, target] of Object.entries(targets)) refused.push(`${name}: ${await h.attacker.symlinkError(target, path.join(dir, `${name}.new`))}`);
    refused.push(`new VM dir: ${await h.attacker.mkdirError(path.join(h.helper.runVmsDir, vmId('mine')))}`);
    expect(refused, 'the attacker plants in a VM run dir').toEqual([...Object.keys(targets).map((n) => `${n}: EACCES`), 'new VM dir: EACCES']);
    // The same links, planted as root: privhelper must clear them, never write through them.
    for (const [name, target] of Object.entries(targets)) {
      await rm(path.join(dir, name), { force: true });
      await symlink(target, path.join(dir, name));
    }
    const r = await launchAsAttacker(h, launchRequest({ vmId: id, kernel: h.tiny.ref }));
    // The console keeps being written while the guest boots: give it a moment to show.
    await new Promise((res) => setTimeout(res, 1500));
    const files = await runFiles(dir);
    evidence(`attacker's plants: all EACCES; root-planted links, relaunch ${outcomeLine(r)}; run files now ${files}`);
    expect(await h.hostChanges(v, before), `launch ${outcomeLine(r)}; ${files}`).toEqual([]);
    expect(files, 'no link left in the run dir').not.toContain('LINK');
  });

  it('the run roots renamed or replaced by a symlink to a victim directory: refused, and a launch does not touch that directory', async () => {
    const { h } = ctx;
    const v = await h.victims();
    const before = await h.hostSnapshot(v);
    const id = vmId('vmsdir');
    await disksFor(h, id);
    const tries = {
      'rename <run>/helper': await h.attacker.renameError(h.helper.runRoot, `${h.helper.runRoot}.aside`),
      'rename <run>/helper/vms': await h.attacker.renameError(h.helper.runVmsDir, `${h.helper.runVmsDir}.aside`),
      'symlink at <run>/helper/vms/<id>': await h.attacker.symlinkError(v.dir, path.join(h.helper.runVmsDir, id)),
      'rmdir <run>/helper/vms': await h.attacker.attempt('rm', { path: h.helper.runVmsDir }),
    };
    const r = await launchAsAttacker(h, launchRequest({ vmId: id, kernel: h.tiny.ref }));
    const changes = await h.hostChanges(v, before);
    evidence(`${Object.entries(tries).map(([k, e]) => `${k}: ${e}`).join('; ')}; launch ${outcomeLine(r)}`);
    expect(tries).toEqual({ 'rename <run>/helper': 'EPERM', 'rename <run>/helper/vms': 'EACCES', 'symlink at <run>/helper/vms/<id>': 'EACCES', 'rmdir <run>/helper/vms': 'EACCES' });
    expect(changes, `launch ${outcomeLine(r)}`).toEqual([]);
    expect(r.ok, outcomeLine(r)).toBe(true);
  });

  /**
   * v1: after QEMU was up, privhelper still chowned agent.sock and console.log and wrote
   * launch.json by path under `<run>/vms`, a name in the banger-owned run dir, which a racer
   * exchanged for its own tree the moment QEMU created agent.sock. v2: the racer still sees the
   * moment (the VM run dir is group-readable), but every exchange of privhelper's run roots
   * is refused, and a second racer tries to exchange `<run>/helper` itself for the whole launch.
   */
  it('run roots exchanged for an attacker tree when QEMU creates agent.sock (and in a loop): privhelper does not chown, chmod or write the victims', async () => {
    const { h } = ctx;
    const v = await h.victims();
    const { id, dir } = await launchedOnce(h, 'swap');
    const before = await h.hostSnapshot(v);
    const evil = path.join(h.runDir, 'vms.evil');
    await h.attacker.mkdir(path.join(evil, id));
    for (const [name, target] of Object.entries({ 'agent.sock': path.join(v.dir, 'shadow'), 'console.log': path.join(v.dir, 'sudoers'), 'launch.json': path.join(v.dir, 'crontab') })) {
      await h.attacker.symlink(target, path.join(evil, id, name));
    }
    const evilTop = path.join(h.runDir, 'helper.evil');
    await h.attacker.mkdir(path.join(evilTop, 'vms'));
    await h.attacker.symlink(path.join(evil, id), path.join(evilTop, 'vms', id));
    const onSock = await h.attacker.racer('exchange-on', [dir, 'agent.sock', `${h.helper.runVmsDir}:${evil}`]);
    const loop = await h.attacker.racer('exchange', [h.helper.runRoot, evilTop, '50']);
    const r = await launchAsAttacker(h, launchRequest({ vmId: id, kernel: h.tiny.ref }));
    const onSockReport = await onSock.stop();
    const loopReport = await loop.stop();
    await new Promise((res) => setTimeout(res, 1000));
    const files = await runFiles(dir);
    evidence(`relaunch ${outcomeLine(r)}; on agent.sock ${racerLine(onSockReport)}; loop ${racerLine(loopReport)}; run files ${files}`);
    expect(await h.hostChanges(v, before), `relaunch ${outcomeLine(r)}`).toEqual([]);
    expect([onSockReport.swaps, loopReport.swaps], `${racerLine(onSockReport)}; ${racerLine(loopReport)}`).toEqual([0, 0]);
    expect(onSockReport.fails + loopReport.fails, 'the racers really tried').toBeGreaterThan(1);
    // Shared per file with group banger (agent socket, console log read-only); QMP stays root's.
    expect(files).toMatch(new RegExp(`^\\. 0:${h.account.gid} 750, agent\\.sock 0:${h.account.gid} 660, console\\.log 0:${h.account.gid} 640, qmp\\.sock 0:0 600, launch\\.json 0:0 600, qemu\\.log 0:0 600$`));
  });
});
