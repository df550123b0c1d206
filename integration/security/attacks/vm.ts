import type { helperv2 } from '@banger/api';
import type { SecurityHarness } from '../harness.js';
import type { Outcome, StreamOutcome } from '../lib/attacker.js';
import { buildRootfsRequest, createOverlayRequest, createWorkDiskRequest, GiB, type KernelRef } from './requests.js';

/** LaunchHypervisor as the attacker; a QEMU it got is remembered so the harness kills it by pid. */
export async function launchAsAttacker(h: SecurityHarness, req: helperv2.LaunchHypervisorRequest): Promise<Outcome<helperv2.LaunchHypervisorResponse>> {
  const r = await h.attacker.call('launchHypervisor', req);
  if (r.ok && r.res.process) h.trackQemu(r.res.process.pid);
  return r;
}

/** The legitimate way to get disks: privhelper creates them for the VM from an image in its store. */
export async function disksFor(h: SecurityHarness, vmId: string, opts: { image?: string; workGib?: number } = {}): Promise<{ overlay: string; work?: string }> {
  const image = opts.image ?? h.guestImage.id;
  const r = await h.attacker.call('createOverlay', createOverlayRequest(vmId, image));
  if (!r.ok) throw new Error(`CreateOverlay failed: ${r.err.codeName} ${r.err.reason}: ${r.err.details}`);
  if (opts.workGib === undefined) return { overlay: r.res.path };
  const w = await h.attacker.call('createWorkDisk', createWorkDiskRequest(vmId, image, opts.workGib * GiB));
  if (!w.ok) throw new Error(`CreateWorkDisk failed: ${w.err.codeName} ${w.err.reason}: ${w.err.details}`);
  return { overlay: r.res.path, work: w.res.path };
}

/** Removes a VM's disks again (so quotas that count VMs or bytes start from zero). */
export async function removeDisks(h: SecurityHarness, vmId: string): Promise<void> {
  await h.attacker.call('removeWorkDisk', { vmId });
  await h.attacker.call('removeOverlay', { vmId });
}

/** A one-line summary of an outcome, for assertion messages and the results file. */
export function outcomeLine(r: Outcome<unknown>): string {
  return r.ok ? `accepted (${r.ms} ms)` : `${r.err.codeName} ${r.err.reason}: ${r.err.details}`;
}

/** The refusal's code and reason, or 'accepted'. */
export function verdict(r: Outcome<unknown>): string {
  return r.ok ? 'accepted' : `${r.err.codeName} ${r.err.reason}`;
}

export type BuildOutcome = StreamOutcome<helperv2.BuildRootfsResponse>;

/** BuildRootfs as the attacker for an installed kernel. */
export function buildAs(h: SecurityHarness, kernel: KernelRef, opts: { timeoutMs?: number; cancelAfter?: number } = {}): Promise<BuildOutcome> {
  return h.attacker.stream('buildRootfs', buildRootfsRequest(kernel), { timeoutMs: 180_000, ...opts });
}

/** The image a successful build answered with. */
export function builtImage(r: BuildOutcome): { image: string; path: string; unchanged: boolean } | undefined {
  for (const e of r.events) if (e.event?.$case === 'result') return { image: e.event.value.image, path: e.event.value.path, unchanged: e.event.value.unchanged };
  return undefined;
}

export function buildSummary(r: BuildOutcome): string {
  const img = builtImage(r);
  const how = r.err ? `${r.err.codeName} ${r.err.reason}: ${r.err.details}` : img ? `built ${img.image}${img.unchanged ? ' (unchanged)' : ''}` : 'no result';
  return `${r.events.length} events${r.cancelled ? ' (cancelled by the attacker)' : ''}, ${how} after ${r.ms} ms`;
}
