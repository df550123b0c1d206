import * as commonv1 from '@banger/api/common';
import * as vmv1 from '@banger/api/vm';
import { str, strs, type CommandSpec } from '../command.js';
import { parseCount } from '../parse/units.js';
import { daemonForKind, listOperations, parseOpKind, parseOpState, type OpsDaemon } from '../ops.js';
import { enumLabel, formatAge, formatDuration } from '../render/format.js';

function opRow(op: commonv1.Operation, now: Date): string[] {
  const end = op.finishedAt ?? now;
  const took = op.createdAt ? formatDuration(end.getTime() - op.createdAt.getTime()) : '-';
  const state = enumLabel(commonv1.operationStateToJSON(op.state), 'OPERATION_STATE_');
  return [op.opId, enumLabel(commonv1.operationKindToJSON(op.kind), 'OPERATION_KIND_'), op.target || '-', state, op.stage || '-', formatAge(op.createdAt, now), took, op.error?.reason ?? ''];
}

export const opsListCommand: CommandSpec = {
  path: ['ops', 'list'],
  summary: 'List operations (VM creates, image builds, kernel pulls...) newest first',
  usage: '[--state STATE]... [--kind KIND]... [--target NAME] [--limit N]',
  description: 'Asks vmd and imaged (only the one that owns the requested kinds); a daemon that is down is reported as a warning when the other answered.',
  options: {
    state: { type: 'string', multiple: true, value: 'STATE', description: 'running, succeeded, failed or cancelled' },
    kind: { type: 'string', multiple: true, value: 'KIND', description: 'vm-create, vm-start, image-build, kernel-pull, ...' },
    target: { type: 'string', value: 'NAME', description: 'only operations on this VM, image or kernel' },
    limit: { type: 'string', value: 'N', description: 'at most N operations per daemon' },
  },
  async run(ctx, { values }) {
    const kinds = strs(values, 'kind').map(parseOpKind);
    const limit = str(values, 'limit');
    const request = vmv1.ListOperationsRequest.fromPartial({
      states: strs(values, 'state').map(parseOpState),
      kinds,
      target: str(values, 'target') ?? '',
      limit: limit ? parseCount('--limit', limit) : 0,
    });
    const daemons: OpsDaemon[] = kinds.length === 0 ? ['vmd', 'imaged'] : [...new Set(kinds.map(daemonForKind))];
    const results = await Promise.allSettled(daemons.map((d) => listOperations(ctx, d, { ...request, kinds: kinds.filter((k) => daemonForKind(k) === d) })));
    const ops: commonv1.Operation[] = [];
    let firstError: Error | undefined;
    results.forEach((r, i) => {
      if (r.status === 'fulfilled') ops.push(...r.value);
      else {
        firstError ??= r.reason instanceof Error ? r.reason : new Error(String(r.reason));
        ctx.warn(`${daemons[i] ?? ''}: ${r.reason instanceof Error ? r.reason.message : String(r.reason)}`);
      }
    });
    if (firstError !== undefined && results.every((r) => r.status === 'rejected')) throw firstError;
    ops.sort((a, b) => (b.createdAt?.getTime() ?? 0) - (a.createdAt?.getTime() ?? 0));
    if (ctx.json) {
      ctx.printJson({ operations: ops.map((o) => commonv1.Operation.toJSON(o)) });
      return 0;
    }
    if (ops.length === 0) {
      ctx.line('no operations');
      return 0;
    }
    const now = ctx.now();
    ctx.table(['OP ID', 'KIND', 'TARGET', 'STATE', 'STAGE', 'AGE', 'TOOK', 'ERROR'], ops.map((o) => opRow(o, now)));
    return 0;
  },
};
