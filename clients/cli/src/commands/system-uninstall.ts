import { existsSync } from 'node:fs';
import { lstat, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { bool, str, type CommandSpec } from '../command.js';
import type { CommandContext } from '../context.js';
import { DNS_UNIT } from '../host-dns/plan.js';
import { ACCOUNT, BIN_LINK, CLI_LAUNCHER_TAIL, CONFIG_PATH, DATA_DIRS, mustRun, ROOT_OPTION, rootOf, run, systemdRunning, TMPFILES_PATH, under, UNIT_DIR, UNITS, type Action } from './system-common.js';

async function removeFile(path: string, what: string): Promise<Action> {
  if (!existsSync(path)) return { action: what, target: path, status: 'absent' };
  await rm(path, { force: true });
  return { action: what, target: path, status: 'done' };
}

/** The PATH link, only when it is one install made (a link to a banger launcher). */
async function removeCliLink(path: string): Promise<Action> {
  const st = await lstat(path).catch(() => undefined);
  if (st === undefined) return { action: 'remove PATH link', target: path, status: 'absent' };
  if (!st.isSymbolicLink() || !(await readlink(path)).endsWith(CLI_LAUNCHER_TAIL)) return { action: 'remove PATH link', target: path, status: 'skipped', detail: 'not a link to a banger launcher' };
  await rm(path);
  return { action: 'remove PATH link', target: path, status: 'done' };
}

/** Under --root the account lines were written by install; remove exactly those. */
async function dropAccountLines(file: string): Promise<boolean> {
  const text = await readFile(file, 'utf8').catch(() => undefined);
  if (text === undefined) return false;
  const kept = text.split('\n').filter((l) => !l.startsWith(`${ACCOUNT}:`));
  if (kept.join('\n') === text) return false;
  await writeFile(file, kept.join('\n'));
  return true;
}

async function uninstall(ctx: CommandContext, root: string, purge: boolean): Promise<number> {
  const actions: Action[] = [];
  if (systemdRunning(root)) {
    // Stopping privhelper leaves running VMs alone (KillMode=process); they keep running.
    const r = await run('systemctl', ['disable', '--now', ...UNITS]);
    actions.push({ action: 'systemctl disable --now', target: UNITS.join(' '), status: r.code === 0 ? 'done' : 'failed', ...(r.code ? { detail: r.stderr.trim() } : {}) });
  } else {
    actions.push({ action: 'systemctl disable --now', target: UNITS.join(' '), status: 'skipped', detail: root === '/' ? 'systemd is not PID 1 here' : '--root given' });
  }
  for (const unit of UNITS) actions.push(await removeFile(under(root, join(UNIT_DIR, unit)), 'remove unit'));
  // system install (or system dns) may have added the .vm resolver unit; its stop reverts resolvectl.
  const dnsUnit = under(root, join(UNIT_DIR, DNS_UNIT));
  if (existsSync(dnsUnit) && systemdRunning(root)) {
    const r = await run('systemctl', ['disable', '--now', DNS_UNIT]);
    actions.push({ action: 'systemctl disable --now', target: DNS_UNIT, status: r.code === 0 ? 'done' : 'failed', ...(r.code ? { detail: r.stderr.trim() } : {}) });
  }
  actions.push(await removeFile(dnsUnit, 'remove unit'));
  actions.push(await removeFile(under(root, TMPFILES_PATH), 'remove tmpfiles.d'));
  actions.push(await removeCliLink(under(root, BIN_LINK)));
  if (systemdRunning(root)) {
    await mustRun('systemctl', ['daemon-reload']);
    actions.push({ action: 'systemctl daemon-reload', target: '', status: 'done' });
  }

  if (purge) {
    actions.push(await removeFile(under(root, CONFIG_PATH), 'remove config'));
    for (const d of DATA_DIRS) {
      const path = under(root, d);
      const existed = existsSync(path);
      await rm(path, { recursive: true, force: true });
      actions.push({ action: 'remove directory', target: path, status: existed ? 'done' : 'absent' });
    }
    if (root === '/') {
      const r = await run('userdel', [ACCOUNT]);
      actions.push({ action: 'remove user', target: ACCOUNT, status: r.code === 0 ? 'done' : r.code === 6 ? 'absent' : 'failed', ...(r.code && r.code !== 6 ? { detail: r.stderr.trim() } : {}) });
    } else {
      const a = await dropAccountLines(under(root, '/etc/passwd'));
      const b = await dropAccountLines(under(root, '/etc/group'));
      actions.push({ action: 'remove user', target: ACCOUNT, status: a || b ? 'done' : 'absent', detail: 'simulated under --root' });
    }
  } else {
    actions.push({ action: 'keep', target: [CONFIG_PATH, ...DATA_DIRS, `user ${ACCOUNT}`].join(', '), status: 'skipped', detail: '--purge removes them' });
  }
  const failed = actions.some((a) => a.status === 'failed');
  if (ctx.json) ctx.printJson({ root, purge, actions, ok: !failed });
  else ctx.table(['ACTION', 'STATUS', 'TARGET', 'DETAIL'], actions.map((a) => [a.action, a.status, a.target, a.detail ?? '']));
  return failed ? 1 : 0;
}

export const systemUninstallCommand: CommandSpec = {
  path: ['system', 'uninstall'],
  summary: 'Stop and remove the systemd units (state, config and the banger user stay unless --purge)',
  usage: '[--root DIR] [--purge]',
  description: 'Running VMs are not stopped: delete them first (banger vm delete) if you are removing banger for good. --purge also removes /etc/banger, /var/lib/banger (images, disks, database), /var/cache/banger, /run/banger, /var/log/banger and the banger user.',
  options: {
    root: ROOT_OPTION,
    purge: { type: 'boolean', description: 'also remove config, state, cache, logs and the banger user' },
  },
  async run(ctx, { values }) {
    return uninstall(ctx, rootOf(str(values, 'root')), bool(values, 'purge'));
  },
};
