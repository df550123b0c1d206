import type { imagev1, vmv1 } from '@banger/api';
import type { CommandContext } from '../context.js';
import type { ResultBody } from './events.js';
import { formatDuration } from './format.js';
import { forkSummary } from './fork.js';
import { snapshotSummary } from './snapshot.js';
import { vmReadySummary } from './vm.js';

/** Final results of any operation stream: a VM, a snapshot, a fork, a built image or a pulled kernel. */
export function printOpResult(ctx: CommandContext) {
  return (result: ResultBody, elapsedMs: number): void => {
    if (result.$case === 'vm') ctx.write(vmReadySummary(result.value as vmv1.Vm, elapsedMs));
    else if (result.$case === 'snapshot') ctx.line(snapshotSummary(result.value as vmv1.Snapshot, elapsedMs));
    else if (result.$case === 'fork') ctx.write(forkSummary(result.value as vmv1.ForkResult, elapsedMs));
    else if (result.$case === 'image') {
      const r = result.value as imagev1.ImageResult;
      ctx.line(`image ${r.image?.name ?? ''} ${r.unchanged ? 'unchanged (same fingerprint, nothing built)' : `ready in ${formatDuration(elapsedMs)}`}${r.image?.fingerprint ? `  ${r.image.fingerprint.slice(0, 16)}` : ''}`);
    } else {
      const r = result.value as imagev1.KernelResult;
      ctx.line(`kernel ${r.kernel?.name ?? ''} ${r.kernel?.version ?? ''} ${r.unchanged ? 'already installed' : `installed in ${formatDuration(elapsedMs)}`}`);
    }
  };
}
