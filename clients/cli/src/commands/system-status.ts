import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseConfig } from '@banger/config';
import { str, type CommandSpec } from '../command.js';
import type { CommandContext } from '../context.js';
import { ACCOUNT, CONFIG_PATH, lookupAccount, run, systemdRunning, TMPFILES_PATH, under, UNIT_DIR, UNITS } from './system-common.js';

interface SocketInfo {
  daemon: string;
  path: string;
  present: boolean;
  mode?: string;
  uid?: number;
  gid?: number;
}

async function socketInfo(daemon: string, path: string): Promise<SocketInfo> {
  const st = await stat(path).catch(() => undefined);
  if (!st?.isSocket()) return { daemon, path, present: false };
  return { daemon, path, present: true, mode: (st.mode & 0o777).toString(8).padStart(4, '0'), uid: st.uid, gid: st.gid };
}

async function systemctlState(verb: 'is-active' | 'is-enabled', unit: string): Promise<string> {
  const r = await run('systemctl', [verb, unit]);
  return r.stdout.trim() || `unknown (${r.code})`;
}

async function status(ctx: CommandContext, root: string): Promise<number> {
  const booted = systemdRunning(root);
  const units = await Promise.all(
    UNITS.map(async (unit) => {
      const file = under(root, join(UNIT_DIR, unit));
      return {
        unit,
        file,
        installed: existsSync(file),
        active: booted ? await systemctlState('is-active', unit) : 'n/a (systemd not running)',
        enabled: booted ? await systemctlState('is-enabled', unit) : 'n/a',
      };
    }),
  );
  const configFile = under(root, CONFIG_PATH);
  const configText = await readFile(configFile, 'utf8').catch(() => undefined);
  let allowedUids: number[] | null = null;
  let configError: string | null = null;
  let sockets: Record<'vmd' | 'imaged' | 'privhelper', string> = { vmd: ctx.globals.vmdSocket, imaged: ctx.globals.imagedSocket, privhelper: ctx.globals.helperSocket };
  if (configText !== undefined) {
    try {
      const c = parseConfig(configText, configFile, { env: {}, uid: 0 });
      allowedUids = c.privhelper.allowedUids;
      if (root !== '/') sockets = { vmd: under(root, c.vmd.socket), imaged: under(root, c.imaged.socket), privhelper: under(root, c.privhelper.socket) };
    } catch (err) {
      configError = err instanceof Error ? err.message : String(err);
    }
  }
  const socketInfos = await Promise.all(Object.entries(sockets).map(([d, p]) => socketInfo(d, p)));
  const account = await lookupAccount(root);
  const result = {
    root,
    systemd: booted,
    units,
    tmpfiles: { file: under(root, TMPFILES_PATH), installed: existsSync(under(root, TMPFILES_PATH)) },
    config: { file: configFile, present: configText !== undefined, allowed_uids: allowedUids, error: configError },
    account: {
      user: account.user ? { name: ACCOUNT, uid: account.user.id, gid: account.user.gid } : null,
      group: account.group ? { name: ACCOUNT, gid: account.group.id, members: account.group.members } : null,
    },
    sockets: socketInfos,
    installed: units.every((u) => u.installed) && configText !== undefined && account.user !== undefined,
  };
  if (ctx.json) {
    ctx.printJson(result);
    return 0;
  }
  ctx.table(
    ['UNIT', 'FILE', 'ACTIVE', 'ENABLED'],
    units.map((u) => [u.unit, u.installed ? u.file : 'not installed', u.active, u.enabled]),
  );
  ctx.line();
  ctx.table(
    ['SOCKET', 'PATH', 'MODE', 'OWNER'],
    socketInfos.map((s) => [s.daemon, s.path, s.present ? (s.mode ?? '') : 'absent', s.present ? `${s.uid}:${s.gid}` : '']),
  );
  ctx.line();
  const user = account.user ? `uid ${account.user.id}` : 'missing';
  const group = account.group ? `gid ${account.group.id}, members: ${account.group.members.join(', ') || '(none)'}` : 'missing';
  ctx.line(`user ${ACCOUNT}: ${user}; group ${ACCOUNT}: ${group}`);
  ctx.line(`config ${configFile}: ${configError ?? (configText === undefined ? 'absent' : `allowed_uids = [${(allowedUids ?? []).join(', ')}]`)}`);
  ctx.line(result.installed ? 'installed' : 'not installed (banger system install)');
  return 0;
}

export const systemStatusCommand: CommandSpec = {
  path: ['system', 'status'],
  summary: 'Show the installed units, the sockets and their modes, and the banger user and group',
  usage: '[--root DIR]',
  options: { root: { type: 'string', value: 'DIR', description: 'inspect a tree staged with install --root DIR' } },
  async run(ctx, { values }) {
    const r = str(values, 'root');
    return status(ctx, r ? resolve(r) : '/');
  },
};
