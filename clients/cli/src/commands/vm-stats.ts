import { setTimeout as sleep } from 'node:timers/promises';
import * as vmv1 from '@banger/api/vm';
import { arg, bool, str, type CommandSpec } from '../command.js';
import type { CommandContext } from '../context.js';
import { EXIT } from '../exit-codes.js';
import { parseDuration } from '../parse/units.js';
import { formatBytes } from '../render/format.js';
import { writeJson } from '../render/output.js';

function sampleRow(s: vmv1.VmStatsSample): string[] {
  const mem = s.guestMemoryBytes ? `${formatBytes(s.rssBytes)} / ${formatBytes(s.guestMemoryBytes)}` : formatBytes(s.rssBytes);
  return [s.at ? s.at.toISOString().slice(11, 19) : '-', `${s.cpuPercent.toFixed(1)}%`, mem];
}

async function once(ctx: CommandContext, ref: string): Promise<vmv1.GetVmStatsResponse> {
  return ctx.vmd().unary('getVmStats', { ref }, ctx.callOptions());
}

export const vmStatsCommand: CommandSpec = {
  path: ['vm', 'stats'],
  ownsInterrupt: true,
  summary: "Show a VM process's CPU and memory use with recent history",
  usage: 'REF [--watch] [--interval DURATION]',
  args: { min: 1, max: 1, names: 'REF' },
  options: {
    watch: { type: 'boolean', short: 'w', description: 'keep polling until Ctrl-C (JSON: one document per line)' },
    interval: { type: 'string', value: 'DURATION', description: "polling interval with --watch (default: the daemon's)" },
  },
  async run(ctx, args) {
    const ref = arg(args, 0);
    const first = await once(ctx, ref);
    if (!bool(args.values, 'watch')) {
      if (ctx.json) ctx.printJson(vmv1.GetVmStatsResponse.toJSON(first));
      else {
        const rows = [...first.history, ...(first.current ? [first.current] : [])];
        ctx.table(['TIME', 'CPU', 'MEMORY (RSS / GUEST)'], rows.map(sampleRow));
      }
      return 0;
    }
    const given = str(args.values, 'interval');
    const intervalMs = given ? parseDuration('--interval', given) : Math.max(500, (first.interval?.seconds ?? 2) * 1000 + Math.round((first.interval?.nanos ?? 0) / 1e6));
    const fixed = (r: readonly string[]) => `${(r[0] ?? '').padEnd(8)}  ${(r[1] ?? '').padStart(7)}  ${r[2] ?? ''}`.trimEnd();
    if (!ctx.json) ctx.line(fixed(['TIME', 'CPU', 'MEMORY (RSS / GUEST)']));
    let res = first;
    while (!ctx.interrupt.aborted) {
      if (ctx.json) writeJson(ctx.io.stdout, vmv1.GetVmStatsResponse.toJSON(res), true);
      else if (res.current) ctx.line(fixed(sampleRow(res.current)));
      try {
        await sleep(intervalMs, undefined, { signal: ctx.interrupt });
      } catch {
        break;
      }
      res = await once(ctx, ref);
    }
    return EXIT.INTERRUPTED;
  },
};
