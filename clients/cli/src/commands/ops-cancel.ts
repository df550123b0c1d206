import * as commonv1 from '@banger/api/common';
import { arg, type CommandSpec } from '../command.js';
import { cancelOperation, getOperation } from '../ops.js';

export const opsCancelCommand: CommandSpec = {
  path: ['ops', 'cancel'],
  summary: 'Cancel a running operation (its stream ends with a CANCELLED failure after rollback)',
  usage: 'OP_ID',
  args: { min: 1, max: 1, names: 'OP_ID' },
  async run(ctx, args) {
    const opId = arg(args, 0);
    const { daemon } = await getOperation(ctx, opId);
    const operation = await cancelOperation(ctx, daemon, opId);
    if (ctx.json) ctx.printJson({ operation: operation ? commonv1.Operation.toJSON(operation) : null });
    else ctx.line(`cancelling ${opId}; follow the rollback with: banger ops watch ${opId}`);
    return 0;
  },
};
