import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { buildConfig, parseConfig, type BangerConfig } from '@banger/config';
import { bool, str, type CommandSpec } from '../command.js';
import type { CommandContext } from '../context.js';
import { CliError } from '../errors.js';
import { EXIT } from '../exit-codes.js';
import { DNS_UNIT, dnsPlan, type DnsPlan } from '../host-dns/plan.js';
import { resolverFacts } from '../host-dns/resolved.js';
import { CONFIG_PATH, ROOT_OPTION, rootOf, run, systemdRunning, under, UNIT_DIR, writeIfChanged, type Action } from './system-common.js';

async function hostConfig(root: string): Promise<BangerConfig> {
  const file = under(root, CONFIG_PATH);
  const text = await readFile(file, 'utf8').catch(() => undefined);
  return text === undefined ? buildConfig({}, 'defaults', { env: {}, uid: 0 }) : parseConfig(text, file, { env: {}, uid: 0 });
}

async function systemctl(actions: Action[], args: string[]): Promise<boolean> {
  const r = await run('systemctl', args);
  actions.push({ action: `systemctl ${args.join(' ')}`, target: DNS_UNIT, status: r.code === 0 ? 'done' : 'failed', ...(r.code ? { detail: r.stderr.trim() } : {}) });
  return r.code === 0;
}

function report(ctx: CommandContext, plan: DnsPlan, unitPath: string, actions: Action[], applied: boolean, next: string): void {
  if (ctx.json) {
    ctx.printJson({ bridge: plan.bridge, gateway: plan.gateway, device_unit: plan.deviceUnit, commands: plan.commands, unit_path: unitPath, unit: plan.unit, actions, applied, next });
    return;
  }
  ctx.line(`.vm names: systemd-resolved sends *.vm to ${plan.gateway} on ${plan.bridge} (routing domain ~vm, per-link DNS):`);
  for (const c of plan.commands) ctx.line(`  ${c.join(' ')}`);
  ctx.line(`applied by ${unitPath}, bound to ${plan.deviceUnit} (reapplied whenever the bridge appears).`);
  if (actions.length > 0) {
    ctx.line();
    ctx.table(['ACTION', 'STATUS', 'TARGET', 'DETAIL'], actions.map((a) => [a.action, a.status, a.target, a.detail ?? '']));
  }
  ctx.line();
  ctx.line(`next: ${next}`);
}

/** Writes the unit and, where systemd runs, enables it (and starts it if the bridge exists); true when applied. */
async function applyUnit(plan: DnsPlan, unitPath: string, live: boolean, actions: Action[]): Promise<boolean> {
  actions.push(await writeIfChanged(unitPath, plan.unit, 0o644, 'install unit'));
  if (!live) return false;
  let applied = (await systemctl(actions, ['daemon-reload'])) && (await systemctl(actions, ['enable', DNS_UNIT]));
  // The unit starts by itself when the bridge appears; start it now only if it is already there.
  if (applied && existsSync(`/sys/class/net/${plan.bridge}`)) applied = await systemctl(actions, ['restart', DNS_UNIT]);
  return applied;
}

/**
 * `.vm` names for `system install`: the unit `system dns` installs, where it can work. Where it
 * cannot (VMs in a netns, no resolved on the host), one skipped action says why, so an install
 * never fails for it.
 */
export async function installDns(root: string): Promise<Action[]> {
  const { bridge, cidr, netns } = (await hostConfig(root)).network;
  const skipped = (detail: string): Action[] => [{ action: 'resolve .vm on the host', target: DNS_UNIT, status: 'skipped', detail }];
  if (netns !== null) return skipped(`VMs live in network namespace ${netns}; use banger vm ssh / vm tunnel`);
  if (root === '/') {
    const facts = await resolverFacts(bridge);
    if (!facts.systemd || !facts.resolved) return skipped(`${facts.systemd ? 'systemd-resolved is not running' : `systemd is not PID 1 (PID 1 is ${facts.pid1})`}; banger system dns --print shows the plan`);
  }
  const actions: Action[] = [];
  await applyUnit(dnsPlan(bridge, cidr), under(root, join(UNIT_DIR, DNS_UNIT)), systemdRunning(root), actions);
  return actions;
}

async function configure(ctx: CommandContext, root: string, mode: 'apply' | 'print' | 'remove'): Promise<number> {
  const config = await hostConfig(root);
  const { bridge, cidr, netns } = config.network;
  if (netns !== null) {
    throw new CliError(`VMs live in network namespace ${netns}: ${bridge} is not a host link, so there is nothing for the host's resolver to route (use banger vm ssh / vm tunnel)`, EXIT.GENERIC, 'DNS_NETNS');
  }
  const plan = dnsPlan(bridge, cidr);
  const unitPath = under(root, join(UNIT_DIR, DNS_UNIT));
  const actions: Action[] = [];
  if (mode === 'print') {
    report(ctx, plan, unitPath, actions, false, `sudo banger system dns applies it (where systemd-resolved runs)`);
    return 0;
  }
  if (root === '/') {
    const facts = await resolverFacts(bridge);
    if (!facts.systemd || !facts.resolved) {
      const why = facts.systemd ? 'systemd-resolved is not running' : `systemd is not PID 1 here (PID 1 is ${facts.pid1})`;
      report(ctx, plan, unitPath, actions, false, `nothing changed; use dig @${plan.gateway} NAME.vm or banger vm ssh NAME`);
      throw new CliError(`${why}: nothing configured (above is what this command sets up where resolved runs)`, EXIT.GENERIC, 'RESOLVED_NOT_RUNNING');
    }
  }
  const live = systemdRunning(root);
  if (mode === 'remove') {
    if (live) await systemctl(actions, ['disable', '--now', DNS_UNIT]);
    const present = existsSync(unitPath);
    if (present) await rm(unitPath, { force: true });
    actions.push({ action: 'remove unit', target: unitPath, status: present ? 'done' : 'absent' });
    if (live) await systemctl(actions, ['daemon-reload']);
    report(ctx, plan, unitPath, actions, false, live ? `resolvectl settings on ${bridge} reverted` : `staged under ${root}`);
    return actions.some((a) => a.status === 'failed') ? EXIT.GENERIC : 0;
  }
  const applied = await applyUnit(plan, unitPath, live, actions);
  const next = live
    ? `check with: resolvectl domain ${bridge}; banger doctor`
    : `staged under ${root}; on the target: systemctl daemon-reload && systemctl enable ${DNS_UNIT}`;
  report(ctx, plan, unitPath, actions, applied, next);
  return actions.some((a) => a.status === 'failed') ? EXIT.GENERIC : 0;
}

export const systemDnsCommand: CommandSpec = {
  path: ['system', 'dns'],
  summary: 'Resolve NAME.vm on the host through systemd-resolved (per-link DNS and ~vm on the bridge)',
  usage: '[--print] [--remove] [--root DIR]',
  description: `Installs ${DNS_UNIT}, a oneshot unit bound to the bridge's device that runs resolvectl dns/domain/default-route on it each time it appears. Refuses when systemd-resolved is not running (printing what it would configure) and when VMs live in a network namespace. --print changes nothing.`,
  options: {
    print: { type: 'boolean', description: 'print the resolvectl commands and the unit, change nothing' },
    remove: { type: 'boolean', description: 'disable and remove the unit (resolvectl revert on the bridge)' },
    root: ROOT_OPTION,
  },
  async run(ctx, { values }) {
    const mode = bool(values, 'print') ? 'print' : bool(values, 'remove') ? 'remove' : 'apply';
    return configure(ctx, mode === 'print' ? (str(values, 'root') ?? '/') : rootOf(str(values, 'root')), mode);
  },
};
