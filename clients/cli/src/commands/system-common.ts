import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { appendFile, chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CliError } from '../errors.js';
import { EXIT } from '../exit-codes.js';
import type { OptionSpec } from '../command.js';
import { tmpfilesLines, type BangerLayout } from '@banger/config';

/**
 * Shared by `banger system install|uninstall|status`: where things go, the banger account
 * and the systemd calls. Every external program is run with an argument vector (execFile),
 * never through a shell.
 */

export const REPO_ROOT = resolve(fileURLToPath(new URL('../../../..', import.meta.url)));
export const DEPLOY_DIR = join(REPO_ROOT, 'deploy', 'systemd');
/** The prefix written in deploy/systemd; replaced by the real install prefix. */
export const UNIT_PREFIX = '/opt/banger';
export const UNIT_NODE = '/usr/bin/node';
export const UNITS = ['banger-privhelper.service', 'banger-imaged.service', 'banger-vmd.service'] as const;
export const ACCOUNT = 'banger';
export const CONFIG_PATH = '/etc/banger/config.toml';
export const TMPFILES_PATH = '/etc/tmpfiles.d/banger.conf';
export const UNIT_DIR = '/etc/systemd/system';
/** `system install` links the CLI's launcher here, so `banger` is on PATH. */
export const BIN_LINK = '/usr/local/bin/banger';
/** What a link at BIN_LINK points to when banger made it. */
export const CLI_LAUNCHER_TAIL = '/clients/cli/bin/banger.mjs';
/** Directories the daemons share; `--purge` removes them. */
export const DATA_DIRS = ['/var/lib/banger', '/var/cache/banger', '/run/banger', '/var/log/banger'] as const;
/** The paths `install` writes into the config, and lays out. */
export const SYSTEM_PATHS = { stateDir: '/var/lib/banger', runDir: '/run/banger', cacheDir: '/var/cache/banger' } as const;
/** Where scripts/daemons.sh writes logs without systemd; root's (the daemons get inherited fds). */
export const LOG_DIR = '/var/log/banger';

export const ROOT_OPTION: OptionSpec = {
  type: 'string',
  value: 'DIR',
  description: 'operate on a tree under DIR instead of / (no systemctl, no useradd: account lines are written to DIR/etc/passwd and DIR/etc/group)',
};

export interface Action {
  action: string;
  target: string;
  status: 'done' | 'exists' | 'skipped' | 'absent' | 'failed';
  detail?: string;
}

/** A host path as seen under `--root`. */
export function under(root: string, path: string): string {
  return root === '/' ? path : join(root, path);
}

/** The target tree; changing the real host (no --root) needs root. */
export function rootOf(value: string | undefined): string {
  const root = value ? resolve(value) : '/';
  if (root === '/' && (process.getuid?.() ?? 0) !== 0) throw new CliError('changing the host needs root: run with sudo, or stage into a tree with --root DIR', EXIT.PERMISSION, 'NOT_ROOT');
  return root;
}

export function run(file: string, args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(file, [...args], { encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 127) : 0;
      done({ code, stdout, stderr: stderr || (err && typeof err.code !== 'number' ? err.message : '') });
    });
  });
}

export async function mustRun(file: string, args: readonly string[]): Promise<void> {
  const r = await run(file, args);
  if (r.code !== 0) throw new CliError(`${file} ${args.join(' ')} failed (${r.code}): ${r.stderr.trim()}`, 1, 'SYSTEM_COMMAND_FAILED');
}

/** sd_booted(): systemd is PID 1 exactly when /run/systemd/system exists. */
export function systemdRunning(root: string): boolean {
  return root === '/' && existsSync('/run/systemd/system');
}

export interface AccountEntry {
  name: string;
  id: number;
  gid: number;
  members: string[];
}

async function readDb(file: string): Promise<string[][]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((l) => l.trim() && !l.startsWith('#'))
    .map((l) => l.split(':'));
}

/** The banger user and group from ROOT/etc/passwd and ROOT/etc/group. */
export async function lookupAccount(root: string): Promise<{ user: AccountEntry | undefined; group: AccountEntry | undefined }> {
  const users = await readDb(under(root, '/etc/passwd'));
  const groups = await readDb(under(root, '/etc/group'));
  const u = users.find((f) => f[0] === ACCOUNT);
  const g = groups.find((f) => f[0] === ACCOUNT);
  return {
    user: u ? { name: ACCOUNT, id: Number(u[2]), gid: Number(u[3]), members: [] } : undefined,
    group: g ? { name: ACCOUNT, id: Number(g[2]), gid: Number(g[2]), members: (g[3] ?? '').split(',').filter(Boolean) } : undefined,
  };
}

/**
 * Creates the system account: `useradd --system --user-group` on the real host; under
 * `--root`, the same entries written directly (first free id in the system range 100-999)
 * so a staged tree can be inspected without touching the host's account database.
 */
export async function ensureAccount(root: string): Promise<{ uid: number; gid: number; action: Action }> {
  const existing = await lookupAccount(root);
  if (existing.user && existing.group) return { uid: existing.user.id, gid: existing.group.id, action: { action: 'create user', target: ACCOUNT, status: 'exists' } };
  if (root === '/') {
    const args = ['--system', '--home-dir', '/var/lib/banger', '--no-create-home', '--shell', '/usr/sbin/nologin', '--comment', 'banger daemons'];
    if (existing.group) args.push('--gid', ACCOUNT);
    else args.push('--user-group');
    await mustRun('useradd', [...args, ACCOUNT]);
    const made = await lookupAccount(root);
    if (!made.user || !made.group) throw new CliError('useradd succeeded but the banger account is not in /etc/passwd', 1, 'ACCOUNT_MISSING');
    return { uid: made.user.id, gid: made.group.id, action: { action: 'create user', target: ACCOUNT, status: 'done', detail: `useradd --system (uid ${made.user.id})` } };
  }
  const used = new Set([...(await readDb(under(root, '/etc/passwd'))), ...(await readDb(under(root, '/etc/group')))].map((f) => Number(f[2])));
  let id = 999;
  while (used.has(id) && id > 100) id--;
  const gid = existing.group?.id ?? id;
  await mkdir(under(root, '/etc'), { recursive: true, mode: 0o755 });
  if (!existing.group) await appendFile(under(root, '/etc/group'), `${ACCOUNT}:x:${gid}:\n`);
  await appendFile(under(root, '/etc/passwd'), `${ACCOUNT}:x:${id}:${gid}:banger daemons:/var/lib/banger:/usr/sbin/nologin\n`);
  return { uid: id, gid, action: { action: 'create user', target: ACCOUNT, status: 'done', detail: `simulated under --root: uid ${id}, gid ${gid} written to etc/passwd and etc/group` } };
}

/** Unit text with the install prefix and node binary substituted. */
export function renderUnit(text: string, prefix: string, node: string): string {
  return text.split(UNIT_PREFIX).join(prefix).split(`ExecStart=${UNIT_NODE} `).join(`ExecStart=${node} `);
}

export function configText(bangerUid: number): string {
  return [
    '# banger configuration. Written by `banger system install`; see README.md and docs/trust-model.md.',
    '# The daemons run as the banger user, so paths are explicit (a non-root default would be per-user).',
    '[paths]',
    'state_dir = "/var/lib/banger"',
    'run_dir = "/run/banger"',
    'cache_dir = "/var/cache/banger"',
    '',
    '[privhelper]',
    '# Who may call the root helper: root and the banger user (vmd, imaged). Checked with SO_PEERCRED.',
    `allowed_uids = [0, ${bangerUid}]`,
    '# Group that may use each VM\'s guest-agent socket and read its console log (vmd runs in it).',
    'client_group = "banger"',
    '',
  ].join('\n');
}

/**
 * deploy/systemd/banger.tmpfiles.conf, generated from the layout (`@banger/config`), so the
 * directories systemd recreates at boot are exactly the ones privhelper verifies.
 */
export function tmpfilesText(layout: BangerLayout): string {
  return [
    '# tmpfiles.d(5) for banger, generated from packages/config/src/layout.ts (do not edit;',
    '# `banger system install` writes it). Root owns the tops; privhelper keeps everything it writes',
    '# under helper/, which no other uid can write; vmd and imaged (user banger) own their own',
    '# subdirectories; the run directory is sticky, like /tmp, so no uid can rename or replace another',
    "# uid's socket. docs/trust-model.md has the table.",
    ...tmpfilesLines(layout, { daemon: ACCOUNT, client: ACCOUNT }),
    `d ${LOG_DIR} 0755 root root -`,
    '',
  ].join('\n');
}

/** Writes `text` to `path` unless it already says exactly that, for idempotent installs. */
export async function writeIfChanged(path: string, text: string, mode: number, what: string): Promise<Action> {
  const old = await readFile(path, 'utf8').catch(() => undefined);
  await mkdir(dirname(path), { recursive: true, mode: 0o755 });
  if (old === text) return { action: what, target: path, status: 'exists' };
  await writeFile(path, text, { mode });
  await chmod(path, mode);
  return { action: what, target: path, status: 'done', ...(old !== undefined ? { detail: 'updated' } : {}) };
}
