import type { vmv1 } from '@banger/api';
import { formatDuration } from './format.js';

/** `vm fork`'s result: one line per clone that runs, one per clone that was rolled back. */
export function forkSummary(r: vmv1.ForkResult, elapsedMs: number): string {
  const head = `forked ${r.source}: ${r.clones.length} of ${r.clones.length + r.failed.length} clones running in ${formatDuration(elapsedMs)} (source paused ${formatDuration(Number(r.pauseMs))})\n`;
  const up = r.clones.map((vm) => `  ${vm.name}  ${vm.network?.ipv4 ?? ''}  ${vm.network?.dnsName ?? ''}\n`);
  const down = r.failed.map((f) => `  ${f.name}  FAILED at ${f.stage || '?'} (${f.reason}), rolled back: ${f.message}\n`);
  return head + up.join('') + down.join('');
}
