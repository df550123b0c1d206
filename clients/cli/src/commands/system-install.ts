import { constants, existsSync } from 'node:fs';
import { access, chmod, chown, lstat, mkdir, readFile, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { applyLayout, bangerLayout, explainUnsafe, parseConfig, unsafeComponent, unsafeEntriesUnder } from '@banger/config';
import { CliError } from '../errors.js';
import { installDns } from './system-dns.js';
import { EXIT } from '../exit-codes.js';
import { str, type CommandSpec } from '../command.js';
import type { CommandContext } from '../context.js';
import {
  BIN_LINK,
  CLI_LAUNCHER_TAIL,
  CONFIG_PATH,
  DEPLOY_DIR,
  LOG_DIR,
  SYSTEM_PATHS,
  REPO_ROOT,
  ROOT_OPTION,
  TMPFILES_PATH,
  UNIT_DIR,
  UNITS,
  configText,
  ensureAccount,
  mustRun,
  renderUnit,
  rootOf,
  systemdRunning,
  tmpfilesText,
  under,
  writeIfChanged,
  type Action,
} from './system-common.js';

/**
 * `banger` on PATH: a symlink to this prefix's launcher. An existing link to a banger launcher
 * is repointed; anything else there is left alone, with a warning.
 */
async function linkCli(path: string, launcher: string, warnings: string[]): Promise<Action> {
  const st = await lstat(path).catch(() => undefined);
  if (st !== undefined) {
    const current = st.isSymbolicLink() ? await readlink(path) : undefined;
    if (current === launcher) return { action: 'link banger into PATH', target: path, status: 'exists', detail: launcher };
    if (current === undefined || !current.endsWith(CLI_LAUNCHER_TAIL)) {
      warnings.push(`${path} exists and is not a link to a banger launcher; left as it is (run ${launcher} directly)`);
      return { action: 'link banger into PATH', target: path, status: 'skipped', detail: 'something else is there' };
    }
    await rm(path);
  }
  await mkdir(dirname(path), { recursive: true, mode: 0o755 });
  await symlink(launcher, path);
  return { action: 'link banger into PATH', target: path, status: 'done', detail: launcher };
}

/** Directories on the way to the prefix that the banger user could not traverse. */
async function blockedForOthers(prefix: string): Promise<string[]> {
  const blocked: string[] = [];
  for (let p = prefix; ; p = dirname(p)) {
    const st = await stat(p).catch(() => undefined);
    if (st && (st.mode & 0o001) === 0) blocked.push(p);
    if (p === dirname(p)) return blocked;
  }
}

/** An existing config written for root-run daemons (e.g. by scripts/demo.sh) misleads banger-run ones. */
async function checkExistingConfig(file: string, bangerUid: number): Promise<string[]> {
  try {
    const text = await readFile(file, 'utf8');
    const asRoot = parseConfig(text, file, { env: {}, uid: 0 });
    const asBanger = parseConfig(text, file, { env: {}, uid: bangerUid });
    const out: string[] = [];
    if (!asBanger.privhelper.allowedUids.includes(bangerUid)) out.push(`${file}: add ${bangerUid} (the banger user) to [privhelper] allowed_uids, or vmd and imaged will be refused by privhelper`);
    if (JSON.stringify(asRoot.paths) !== JSON.stringify(asBanger.paths)) out.push(`${file}: set [paths] state_dir, run_dir and cache_dir explicitly; as the banger user the defaults are per-user paths`);
    return out;
  } catch (err) {
    return [`${file}: ${err instanceof Error ? err.message : String(err)}`];
  }
}

/**
 * privhelper runs as root from the prefix: whoever can write any of it is root. The prefix,
 * every directory above it, and everything in it (but .git) must be root's and writable by
 * no one else.
 */
function checkPrefix(prefix: string): void {
  const bad = unsafeComponent(prefix) ?? unsafeEntriesUnder(prefix, 1, new Set(['.git']))[0];
  if (bad === undefined) return;
  throw new CliError(
    `refusing to install from ${prefix}: ${explainUnsafe(bad)}, so its owner could run code as root through privhelper. Install from a root-owned checkout (e.g. as root: git clone ... /opt/banger), or fix it: chown -R root:root ${prefix} && chmod -R go-w ${prefix}`,
    EXIT.PERMISSION,
    'INSTALL_PREFIX_UNSAFE',
  );
}

async function install(ctx: CommandContext, root: string, prefix: string): Promise<number> {
  checkPrefix(prefix);
  const actions: Action[] = [];
  const isRoot = (process.getuid?.() ?? 0) === 0;
  const account = await ensureAccount(root);
  actions.push(account.action);

  const config = under(root, CONFIG_PATH);
  const warnings: string[] = [];
  if (existsSync(config)) {
    actions.push({ action: 'write config', target: config, status: 'exists', detail: 'left as it is' });
    warnings.push(...(await checkExistingConfig(config, account.uid)));
  } else {
    await mkdir(dirname(config), { recursive: true, mode: 0o755 });
    await writeFile(config, configText(account.uid), { mode: 0o640 });
    // The daemons run as banger and must read it; nobody else needs to.
    if (isRoot) await chown(config, 0, account.gid);
    actions.push({ action: 'write config', target: config, status: 'done', detail: `allowed_uids = [0, ${account.uid}]` });
  }

  const node = process.execPath;
  for (const unit of UNITS) {
    const text = renderUnit(await readFile(join(DEPLOY_DIR, unit), 'utf8'), prefix, node);
    actions.push(await writeIfChanged(under(root, join(UNIT_DIR, unit)), text, 0o644, 'install unit'));
  }
  actions.push(...(await installDns(root)));
  actions.push(await linkCli(under(root, BIN_LINK), join(prefix, 'clients', 'cli', 'bin', 'banger.mjs'), warnings));
  const layout = bangerLayout({ paths: SYSTEM_PATHS });
  actions.push(await writeIfChanged(under(root, TMPFILES_PATH), tmpfilesText(layout), 0o644, 'install tmpfiles.d'));
  // As root on the host, or staged under --root; ownership needs root.
  const ids = isRoot ? { daemonUid: account.uid, daemonGid: account.gid, clientGid: account.gid } : { daemonUid: process.getuid?.() ?? 0, daemonGid: process.getgid?.() ?? 0, clientGid: process.getgid?.() ?? 0 };
  for (const d of applyLayout(layout, ids, root)) {
    actions.push({ action: 'create directory', target: d.path, status: d.created ? 'done' : 'exists', detail: `${d.mode} ${d.owner}` });
  }
  await mkdir(under(root, LOG_DIR), { recursive: true, mode: 0o755 });
  await chmod(under(root, LOG_DIR), 0o755);
  if (isRoot) await chown(under(root, LOG_DIR), 0, 0);

  const blocked = await blockedForOthers(prefix);
  if (blocked.length) warnings.push(`the banger user cannot reach ${prefix}: ${blocked.join(', ')} not searchable by others. Install from a readable prefix (e.g. clone to /opt/banger) or chmod o+x those directories.`);
  await access(join(prefix, 'services', 'vmd', 'bin', 'vmd.mjs'), constants.R_OK).catch(() => warnings.push(`${prefix} does not look like a banger checkout (services/vmd/bin/vmd.mjs missing)`));
  // The units' launchers run the compiled bundles; a checkout that was never built would fail at start.
  for (const d of ['vmd', 'imaged', 'privhelper']) {
    await access(join(prefix, 'services', d, 'dist', `${d}.mjs`), constants.R_OK).catch(() => warnings.push(`${prefix} is not built (services/${d}/dist/${d}.mjs missing): run \`npm run build\` there`));
  }

  let started = false;
  let next: string;
  if (systemdRunning(root)) {
    await mustRun('systemctl', ['daemon-reload']);
    await mustRun('systemctl', ['enable', '--now', ...UNITS]);
    actions.push({ action: 'systemctl enable --now', target: UNITS.join(' '), status: 'done' });
    started = true;
    next = 'banger system status; banger doctor';
  } else {
    actions.push({ action: 'systemctl enable --now', target: UNITS.join(' '), status: 'skipped', detail: root === '/' ? 'systemd is not PID 1 here' : '--root given' });
    next =
      root === '/'
        ? `systemd is not running on this machine: start the daemons with  bash ${join(REPO_ROOT, 'scripts', 'daemons.sh')} start`
        : `staged under ${root}; on the target: systemctl daemon-reload && systemctl enable --now ${UNITS.join(' ')}`;
  }

  if (ctx.json) ctx.printJson({ root, prefix, node, account: { uid: account.uid, gid: account.gid }, actions, started, warnings, next });
  else {
    ctx.table(
      ['ACTION', 'STATUS', 'TARGET', 'DETAIL'],
      actions.map((a) => [a.action, a.status, a.target, a.detail ?? '']),
    );
    for (const w of warnings) ctx.warn(w);
    ctx.line();
    ctx.line(`next: ${next}`);
  }
  return 0;
}

export const systemInstallCommand: CommandSpec = {
  path: ['system', 'install'],
  summary: 'Install banger as a system service: banger user, config, systemd units, directories',
  usage: '[--root DIR] [--prefix DIR]',
  description:
    'Creates the banger system user and group, /etc/banger/config.toml when absent (allowed_uids = [0, uid of banger]), the three units in /etc/systemd/system and /etc/tmpfiles.d/banger.conf, then runs systemctl daemon-reload and enable --now when systemd is PID 1. Idempotent.',
  options: {
    root: ROOT_OPTION,
    prefix: { type: 'string', value: 'DIR', description: 'banger checkout the units run from (default: the one this CLI runs from)' },
  },
  async run(ctx, { values }) {
    return install(ctx, rootOf(str(values, 'root')), resolve(str(values, 'prefix') ?? REPO_ROOT));
  },
};
