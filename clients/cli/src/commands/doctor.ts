import { bool, type CommandSpec } from '../command.js';
import { DOCTOR_CHECKS, type CheckResult, type DoctorCheck } from '../doctor/checks.js';
import type { CommandContext } from '../context.js';
import type { Style } from '../render/output.js';

export async function runChecks(ctx: CommandContext, checks: readonly DoctorCheck[], deep: boolean): Promise<CheckResult[]> {
  const results = await Promise.all(checks.map((c) => c.run(ctx, { deep })));
  return results.flat();
}

export function renderCheck(r: CheckResult, style: Style, width: number): string {
  const mark = r.status === 'pass' ? style.green('✓ pass') : r.status === 'warn' ? style.yellow('! warn') : style.red('✗ fail');
  const fix = r.fix && r.status !== 'pass' ? `\n${' '.repeat(width + 10)}fix: ${r.fix}` : '';
  return `${mark}  ${r.name.padEnd(width)}  ${r.detail}${fix}`;
}

export const doctorCommand: CommandSpec = {
  path: ['doctor'],
  summary: 'Check the host and the daemons, with the command that fixes each problem',
  usage: '[--deep]',
  description: 'Exits 1 when any check fails (warnings do not fail).',
  options: { deep: { type: 'boolean', description: 'run a real KVM boot probe instead of cached flags (slower)' } },
  async run(ctx, { values }) {
    const results = await runChecks(ctx, DOCTOR_CHECKS, bool(values, 'deep'));
    const failed = results.filter((r) => r.status === 'fail').length;
    const warned = results.filter((r) => r.status === 'warn').length;
    if (ctx.json) ctx.printJson({ ok: failed === 0, checks: results });
    else {
      const width = Math.max(0, ...results.map((r) => r.name.length));
      for (const r of results) ctx.line(renderCheck(r, ctx.style, width));
      ctx.line();
      ctx.line(`${results.length - failed - warned} passed, ${warned} warnings, ${failed} failed`);
    }
    return failed > 0 ? 1 : 0;
  },
};
