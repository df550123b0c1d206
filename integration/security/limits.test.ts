import { access, readdir, statfs } from 'node:fs/promises';
import { totalmem } from 'node:os';
import path from 'node:path';
import { OP_ID_PATTERN } from '@banger/runtime';
import { describe, expect, it } from 'vitest';
import { createOverlayRequest, createWorkDiskRequest, GiB, launchRequest, MiB, vmId } from './attacks/requests.js';
import { disksFor, launchAsAttacker, outcomeLine, removeDisks } from './attacks/vm.js';
import { securityUnavailableReason, useHarness, type SecurityHarness } from './harness.js';
import type { Outcome } from './lib/attacker.js';
import { evidence } from './lib/evidence.js';
import { watchProcesses } from './lib/procfs.js';

/**
 * Issue 11, item 8: v1 enforced hard-coded bounds (32 GiB, 16 vCPUs, 2 TiB disks), not the
 * configured `[vm]` ones, had no global quota and booted a QEMU for every deep probe. v2
 * enforces the `[vm]` bounds and the `[privhelper]` quotas (max_vms, max_guest_memory_percent,
 * max_work_disk_total_gib or the free space, deep_probe_interval_seconds): over a limit the
 * answer is RESOURCE_EXHAUSTED naming the limit, with the op id, and nothing is created.
 */
const skip = await securityUnavailableReason({ guest: true });
if (skip) console.warn(`[skip] security: limits: ${skip}`);

/** The refusal's code, reason and the limit it names (ErrorInfo metadata), or 'accepted'. */
function limitOf(r: Outcome<unknown>): { code: string; reason: string; limit: string; opId: boolean } | 'accepted' {
  if (r.ok) return 'accepted';
  return { code: r.err.codeName, reason: r.err.reason, limit: r.err.metadata['limit'] ?? '', opId: OP_ID_PATTERN.test(r.err.opId) };
}

/** Nothing the refused call could have left: the VM has no disk dir and no run dir. */
async function leftovers(h: SecurityHarness, id: string): Promise<string[]> {
  const out: string[] = [];
  for (const dir of [path.join(h.helper.vmsDir, id), path.join(h.helper.runVmsDir, id)]) {
    const names = await readdir(dir).catch(() => undefined);
    if (names !== undefined) out.push(`${dir}: ${names.join(', ') || '(empty)'}`);
  }
  return out;
}

describe.skipIf(skip !== undefined)('security: per-VM bounds come from [vm] in the config', () => {
  const ctx = useHarness({ guest: true, vm: { maxMemoryMib: 1024, maxVcpus: 2, maxWorkDiskGib: 8 }, quotas: { deepProbeIntervalSeconds: 4 } });

  it('memory above [vm] max_memory_mib (2048 > 1024) is refused, naming the limit', async () => {
    const { h } = ctx;
    const id = vmId('mem');
    await disksFor(h, id);
    const r = await launchAsAttacker(h, launchRequest({ vmId: id, kernel: h.tiny.ref, memoryMib: 2048 }));
    evidence(outcomeLine(r));
    expect(limitOf(r), outcomeLine(r)).toEqual({ code: 'RESOURCE_EXHAUSTED', reason: 'VM_LIMIT_EXCEEDED', limit: 'vm.max_memory_mib', opId: true });
    expect(outcomeLine(r)).toContain('1024');
    expect(await leftovers(h, id)).toEqual([`${path.join(h.helper.vmsDir, id)}: disks.json, root.qcow2`]);
  });

  it('vCPUs above [vm] max_vcpus (3 > 2) are refused, naming the limit', async () => {
    const { h } = ctx;
    const id = vmId('cpu');
    await disksFor(h, id);
    const r = await launchAsAttacker(h, launchRequest({ vmId: id, kernel: h.tiny.ref, vcpus: 3 }));
    evidence(outcomeLine(r));
    expect(limitOf(r), outcomeLine(r)).toEqual({ code: 'RESOURCE_EXHAUSTED', reason: 'VM_LIMIT_EXCEEDED', limit: 'vm.max_vcpus', opId: true });
  });

  it('a work disk above [vm] max_work_disk_gib (9 GiB > 8) is refused, naming the limit', async () => {
    const { h } = ctx;
    const id = vmId('disk');
    const r = await h.attacker.call('createWorkDisk', createWorkDiskRequest(id, h.guestImage.id, 9 * GiB));
    evidence(outcomeLine(r));
    expect(limitOf(r), outcomeLine(r)).toEqual({ code: 'RESOURCE_EXHAUSTED', reason: 'VM_LIMIT_EXCEEDED', limit: 'vm.max_work_disk_gib', opId: true });
    expect(await leftovers(h, id)).toEqual([]);
  });

  it('a 2 TiB sparse work disk is refused with RESOURCE_EXHAUSTED', async () => {
    const { h } = ctx;
    const id = vmId('huge');
    const r = await h.attacker.call('createWorkDisk', createWorkDiskRequest(id, h.guestImage.id, 2 * 1024 * GiB));
    evidence(outcomeLine(r));
    expect(limitOf(r), outcomeLine(r)).toMatchObject({ code: 'RESOURCE_EXHAUSTED' });
    expect(await leftovers(h, id)).toEqual([]);
  });

  it('growing a work disk to 2 TiB (ResizeWorkDisk) is refused with RESOURCE_EXHAUSTED, and the disk keeps its size', async () => {
    const { h } = ctx;
    const id = vmId('grow');
    await disksFor(h, id, { workGib: 1 });
    const r = await h.attacker.call('resizeWorkDisk', { vmId: id, sizeBytes: 2 * 1024 * GiB });
    const again = await h.attacker.call('resizeWorkDisk', { vmId: id, sizeBytes: GiB });
    evidence(`${outcomeLine(r)}; afterwards a resize to 1 GiB: ${again.ok ? `previous size ${again.res.previousSizeBytes}` : outcomeLine(again)}`);
    expect(limitOf(r), outcomeLine(r)).toMatchObject({ code: 'RESOURCE_EXHAUSTED', limit: 'vm.max_work_disk_gib' });
    expect(again.ok && again.res.previousSizeBytes).toBe(GiB);
  });

  /** The boot probe only runs where /dev/kvm exists (it does here: PVM). */
  it('ProbeHost{deep} at most once per interval per caller: the repeats are refused and start no QEMU, the next interval is served', async (t) => {
    const { h } = ctx;
    if (!(await access('/dev/kvm').then(() => true, () => false))) t.skip('no /dev/kvm: a deep probe starts no QEMU here');
    const watch = watchProcesses((args) => path.basename(args[0] ?? '').startsWith('qemu-system-') && args.includes('-S') && args.includes('kvm'));
    const outcomes: Outcome<{ capabilities?: { kvmDetail: string } | undefined }>[] = [];
    for (let i = 0; i < 4; i++) outcomes.push(await h.attacker.call('probeHost', { deep: true }));
    const probes = await watch.stop();
    const detail = outcomes[0]?.ok ? (outcomes[0].res.capabilities?.kvmDetail ?? '') : '';
    const shallow = await h.attacker.call('probeHost', { deep: false });
    await new Promise((r) => setTimeout(r, 4200));
    const later = await h.attacker.call('probeHost', { deep: true });
    const lines = [...outcomes.map((r, i) => `#${i + 1} ${r.ok ? `answered (${detail.slice(0, 160)})` : outcomeLine(r)}`), `probe QEMUs seen during the burst: ${probes.size}`, `shallow: ${shallow.ok ? 'answered' : outcomeLine(shallow)}`, `after the interval: ${later.ok ? 'answered' : outcomeLine(later)}`];
    evidence(lines.join('; '));
    expect(outcomes.map((r) => (r.ok ? 'answered' : limitOf(r))), lines.join('\n')).toEqual([
      'answered',
      ...[1, 2, 3].map(() => ({ code: 'RESOURCE_EXHAUSTED', reason: 'DEEP_PROBE_RATE_LIMITED', limit: 'privhelper.deep_probe_interval_seconds', opId: true })),
    ]);
    expect(probes.size, lines.join('\n')).toBeLessThanOrEqual(1);
    expect([shallow.ok, later.ok], lines.join('\n')).toEqual([true, true]);
  });
});

describe.skipIf(skip !== undefined)('security: [privhelper] quotas across VMs (configured)', () => {
  // 2% of this host's RAM: one 256 MiB guest fits, a second does not.
  const percent = Math.max(1, Math.ceil(((300 * MiB) / totalmem()) * 100));
  const allowedMib = Math.floor((totalmem() / MiB) * (percent / 100));
  const ctx = useHarness({ guest: true, quotas: { maxVms: 3, maxGuestMemoryPercent: percent, maxWorkDiskTotalGib: 3 } });

  it('max_vms = 3: disks for a fourth VM are refused with RESOURCE_EXHAUSTED, and freeing one makes room', async () => {
    const { h } = ctx;
    const ids = [vmId('q1'), vmId('q2'), vmId('q3'), vmId('q4')];
    const outcomes: Outcome<unknown>[] = [];
    for (const id of ids) outcomes.push(await h.attacker.call('createOverlay', createOverlayRequest(id, h.guestImage.id)));
    const work4 = await h.attacker.call('createWorkDisk', createWorkDiskRequest(ids[3]!, h.guestImage.id, GiB));
    await removeDisks(h, ids[0]!);
    const after = await h.attacker.call('createOverlay', createOverlayRequest(ids[3]!, h.guestImage.id));
    const lines = [...outcomes.map((r, i) => `VM ${i + 1}: ${outcomeLine(r)}`), `work disk for VM 4: ${outcomeLine(work4)}`, `after removing VM 1: ${outcomeLine(after)}`];
    evidence(lines.join('; '));
    for (const id of ids) await removeDisks(h, id);
    expect(outcomes.map((r) => (r.ok ? 'accepted' : limitOf(r))), lines.join('\n')).toEqual([
      'accepted',
      'accepted',
      'accepted',
      { code: 'RESOURCE_EXHAUSTED', reason: 'VM_QUOTA_EXCEEDED', limit: 'privhelper.max_vms', opId: true },
    ]);
    expect(limitOf(work4)).toMatchObject({ reason: 'VM_QUOTA_EXCEEDED' });
    expect(after.ok, lines.join('\n')).toBe(true);
  });

  it(`max_guest_memory_percent = ${percent} (${allowedMib} MiB here): a second running 256 MiB guest is refused, no QEMU started for it`, async () => {
    const { h } = ctx;
    const [a, b] = [vmId('mq1'), vmId('mq2')];
    await disksFor(h, a);
    await disksFor(h, b);
    const first = await launchAsAttacker(h, launchRequest({ vmId: a, kernel: h.tiny.ref, memoryMib: 256 }));
    const second = await launchAsAttacker(h, launchRequest({ vmId: b, kernel: h.tiny.ref, memoryMib: 256 }));
    const runFiles = await leftovers(h, b);
    evidence(`VM 1: ${outcomeLine(first)}; VM 2: ${outcomeLine(second)}`);
    await h.killQemus();
    const third = await launchAsAttacker(h, launchRequest({ vmId: b, kernel: h.tiny.ref, memoryMib: 256 }));
    await h.killQemus();
    for (const id of [a, b]) await removeDisks(h, id);
    expect(first.ok, outcomeLine(first)).toBe(true);
    expect(limitOf(second), outcomeLine(second)).toEqual({ code: 'RESOURCE_EXHAUSTED', reason: 'GUEST_MEMORY_QUOTA_EXCEEDED', limit: 'privhelper.max_guest_memory_percent', opId: true });
    expect(runFiles.filter((l) => l.includes(h.helper.runVmsDir)), 'no run dir for the refused VM').toEqual([]);
    expect(third.ok, `once VM 1 stopped: ${outcomeLine(third)}`).toBe(true);
  });

  it('max_work_disk_total_gib = 3: work disks totalling more are refused (create and resize), naming the limit', async () => {
    const { h } = ctx;
    const [a, b] = [vmId('dq1'), vmId('dq2')];
    const first = await h.attacker.call('createWorkDisk', createWorkDiskRequest(a, h.guestImage.id, 2 * GiB));
    const second = await h.attacker.call('createWorkDisk', createWorkDiskRequest(b, h.guestImage.id, 2 * GiB));
    const grow = await h.attacker.call('resizeWorkDisk', { vmId: a, sizeBytes: 4 * GiB });
    const fits = await h.attacker.call('createWorkDisk', createWorkDiskRequest(b, h.guestImage.id, GiB));
    evidence(`2 GiB: ${outcomeLine(first)}; another 2 GiB: ${outcomeLine(second)}; resize the first to 4 GiB: ${outcomeLine(grow)}; 1 GiB: ${outcomeLine(fits)}`);
    for (const id of [a, b]) await removeDisks(h, id);
    expect(first.ok).toBe(true);
    const quota = { code: 'RESOURCE_EXHAUSTED', reason: 'WORK_DISK_QUOTA_EXCEEDED', limit: 'privhelper.max_work_disk_total_gib', opId: true };
    expect([limitOf(second), limitOf(grow)]).toEqual([quota, quota]);
    expect(fits.ok, outcomeLine(fits)).toBe(true);
  });
});

const hostMib = Math.floor(totalmem() / MiB);
const freeGib = await statfs('/tmp').then((s) => Math.floor((s.bavail * s.bsize) / GiB));
/** Per-VM disk bound so two disks within it exceed the free space together. */
const diskGib = Math.min(65536, Math.ceil(freeGib / 2) + 1);

describe.skipIf(skip !== undefined)('security: [privhelper] quotas across VMs (defaults)', () => {
  const ctx = useHarness({ guest: true, vm: { maxMemoryMib: Math.min(1 << 20, hostMib * 2), maxWorkDiskGib: diskGib } });

  it(`default max_guest_memory_percent (75%): one guest of 80% of host RAM (${Math.floor(hostMib * 0.8)} MiB of ${hostMib}) is refused before QEMU starts`, async () => {
    const { h } = ctx;
    const id = vmId('bigmem');
    await disksFor(h, id);
    const r = await launchAsAttacker(h, launchRequest({ vmId: id, kernel: h.tiny.ref, memoryMib: Math.floor(hostMib * 0.8) }));
    evidence(outcomeLine(r));
    expect(limitOf(r), outcomeLine(r)).toEqual({ code: 'RESOURCE_EXHAUSTED', reason: 'GUEST_MEMORY_QUOTA_EXCEEDED', limit: 'privhelper.max_guest_memory_percent', opId: true });
    expect(outcomeLine(r)).toContain(`${Math.floor((totalmem() / MiB) * 0.75)} MiB allowed`);
  });

  it(`default work-disk total (the free space): 2 x ${diskGib} GiB with ${freeGib} GiB free, the second is refused`, async () => {
    const { h } = ctx;
    const outcomes: Outcome<unknown>[] = [];
    const ids = [vmId('fq1'), vmId('fq2')];
    for (const id of ids) outcomes.push(await h.attacker.call('createWorkDisk', createWorkDiskRequest(id, h.guestImage.id, diskGib * GiB)));
    for (const id of ids) await removeDisks(h, id);
    evidence(outcomes.map((r, i) => `disk ${i + 1}: ${outcomeLine(r)}`).join('; '));
    expect(outcomes[0]?.ok, outcomes.map((r) => outcomeLine(r)).join('\n')).toBe(true);
    expect(limitOf(outcomes[1]!), outcomes.map((r) => outcomeLine(r)).join('\n')).toEqual({ code: 'RESOURCE_EXHAUSTED', reason: 'WORK_DISK_QUOTA_EXCEEDED', limit: 'free space', opId: true });
  });
});
