import * as commonv1 from '@banger/api/common';
import { arg, bool, type CommandSpec } from '../command.js';
import { eventToJson, followOperation } from '../operation.js';
import { getOperation, watchOperation } from '../ops.js';
import { enumLabel, formatTime } from '../render/format.js';
import { renderFields } from '../render/table.js';
import { printOpResult } from '../render/results.js';

export const opsShowCommand: CommandSpec = {
  path: ['ops', 'show'],
  ownsInterrupt: true,
  summary: "Show an operation's record and its stored events",
  usage: 'OP_ID [--follow]',
  description: 'Replays the stored events (WatchOperation from the start) and, for a running operation, stops at the last stored event unless --follow.',
  args: { min: 1, max: 1, names: 'OP_ID' },
  options: { follow: { type: 'boolean', short: 'f', description: 'keep following a running operation to its end' } },
  async run(ctx, args) {
    const opId = arg(args, 0);
    const { daemon, operation: op } = await getOperation(ctx, opId);
    const running = op.state === commonv1.OperationState.OPERATION_STATE_RUNNING;
    const stopAfterSeq = running && !bool(args.values, 'follow') ? op.lastSeq : undefined;
    if (ctx.json) {
      const events: unknown[] = [];
      if (op.lastSeq > 0 || running) {
        const stream = watchOperation(ctx, daemon, opId);
        for await (const res of stream) {
          if (!res.event) continue;
          events.push(eventToJson(res.event));
          if (stopAfterSeq !== undefined && res.event.seq >= stopAfterSeq) {
            stream.cancel();
            break;
          }
        }
      }
      ctx.printJson({ daemon, operation: commonv1.Operation.toJSON(op), events });
      return 0;
    }
    const e = op.error;
    ctx.write(
      renderFields([
        ['op id', op.opId],
        ['daemon', daemon],
        ['kind', enumLabel(commonv1.operationKindToJSON(op.kind), 'OPERATION_KIND_')],
        ['target', op.target + (op.targetId ? ` (${op.targetId})` : '')],
        ['state', enumLabel(commonv1.operationStateToJSON(op.state), 'OPERATION_STATE_')],
        ['stage', op.stage],
        ['created', formatTime(op.createdAt)],
        ['finished', formatTime(op.finishedAt)],
        ['error', e ? `${e.reason}: ${e.message}${e.stage ? ` (stage ${e.stage})` : ''}` : undefined],
        ['leftovers', op.leftovers.map((r) => `${r.kind} ${r.id}`).join(', ')],
      ]),
    );
    if (op.lastSeq === 0 && !running) return 0;
    ctx.line();
    ctx.line('events:');
    const stream = watchOperation(ctx, daemon, opId);
    return followOperation(ctx, stream, {
      opId,
      reattach: 'banger ops watch',
      plain: stopAfterSeq !== undefined,
      onResult: printOpResult(ctx),
      ...(stopAfterSeq !== undefined ? { stopAfterSeq } : {}),
    }).catch((err: unknown) => {
      // The stored stream of a failed operation ends with its error; the record above already shows it.
      if (op.state === commonv1.OperationState.OPERATION_STATE_FAILED || op.state === commonv1.OperationState.OPERATION_STATE_CANCELLED) return 0;
      throw err;
    });
  },
};
