import type { helperv1 } from '@banger/api';
import type { SecurityHarness } from '../harness.js';
import type { Outcome } from '../lib/attacker.js';
import { createOverlayRequest } from './requests.js';

/** LaunchHypervisor as the attacker; a QEMU it got is remembered so the harness kills it by pid. */
export async function launchAsAttacker(h: SecurityHarness, req: helperv1.LaunchHypervisorRequest): Promise<Outcome<helperv1.LaunchHypervisorResponse>> {
  const r = await h.attacker.call('launchHypervisor', req);
  if (r.ok && r.res.process) h.trackQemu(r.res.process.pid);
  return r;
}

/** A root disk privhelper itself creates for the VM (CreateOverlay over an image base): the legitimate way. */
export async function overlayFor(h: SecurityHarness, vmId: string, basePath: string): Promise<string> {
  const r = await h.attacker.call('createOverlay', createOverlayRequest(vmId, basePath));
  if (!r.ok) throw new Error(`CreateOverlay failed: ${r.err.codeName} ${r.err.details}`);
  return r.res.path;
}

/** A one-line summary of an outcome, for assertion messages and the results file. */
export function outcomeLine(r: Outcome<unknown>): string {
  return r.ok ? `accepted (${r.ms} ms)` : `${r.err.codeName} ${r.err.reason}: ${r.err.details}`;
}
