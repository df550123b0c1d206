import { mintOpId } from '@banger/runtime';
import type { OptionValues } from '../command.js';
import type { CommandContext } from '../context.js';
import { UsageError } from '../errors.js';
import { followOperation } from '../operation.js';
import { printOpResult } from '../render/results.js';

/** Flags of `vm create` that shape a fresh VM; a clone takes its shape and image from the snapshot. */
const SHAPE_FLAGS = ['image', 'kernel', 'memory', 'vcpus', 'work-disk', 'ssh-key', 'egress', 'no-forward', 'rm-on-detach', 'cold'] as const;

/** `vm create --from SNAP --name N [--no-wait]`: a clone restored from a snapshot (CreateVmFromSnapshot). */
export async function createFromSnapshot(ctx: CommandContext, values: OptionValues, snapshot: string, name: string, noWait: boolean): Promise<number> {
  const given = SHAPE_FLAGS.filter((f) => values[f] !== undefined && values[f] !== false);
  if (given.length > 0) throw new UsageError(`--from takes the VM's shape and image from the snapshot; drop ${given.map((f) => `--${f}`).join(', ')}`);
  const sync = values['sync'];
  if (Array.isArray(sync) && sync.length > 0) throw new UsageError('--sync is not supported with --from: a clone has the files of its snapshot (copy more with banger vm cp once it runs)');
  const opId = mintOpId();
  const stream = ctx.vmd().serverStream('createVmFromSnapshot', { snapshot, name, noWait }, { opId });
  return followOperation(ctx, stream, { opId, reattach: 'banger vm watch', onResult: printOpResult(ctx) });
}
