import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { lstat, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { applyLayout, bangerLayout, parseConfig, type BangerLayout } from '@banger/config';
import { bool, str, type CommandSpec } from '../command.js';
import type { CommandContext } from '../context.js';
import { CliError } from '../errors.js';
import { EXIT } from '../exit-codes.js';
import { CONFIG_PATH, lookupAccount, ROOT_OPTION, rootOf, SYSTEM_PATHS, under, type Action } from './system-common.js';

const execFileP = promisify(execFile);

/**
 * `banger system upgrade`: converts the layout of banger before privhelper's root-owned
 * roots (tops owned by banger; VM disks in <state>/vms, images in <state>/images, VM run
 * directories in <run>/vms, build caches in <cache>/{debootstrap,npm}) to today's. Nothing a
 * banger-writable directory held is trusted as it is: image files are copied into privhelper's
 * store (fresh inodes nobody else holds open), VM disks are moved only when root owns them,
 * and the build caches are dropped (the next build makes them again, indexed).
 */

async function live(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(socket);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Pids of QEMU processes that banger started (`-name banger-<id>`). */
async function runningVms(): Promise<number[]> {
  const out: number[] = [];
  for (const e of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(e)) continue;
    const cmd = await readFile(`/proc/${e}/cmdline`, 'utf8').catch(() => '');
    if (cmd.includes('qemu-system') && /\0banger-[a-z0-9-]+,/.test(cmd)) out.push(Number(e));
  }
  return out;
}

async function regularRootFile(p: string): Promise<boolean> {
  const st = await lstat(p).catch(() => undefined);
  return st !== undefined && st.isFile() && st.uid === 0 && st.nlink === 1;
}

async function copyImages(layout: BangerLayout, oldDir: string, dryRun: boolean, actions: Action[]): Promise<void> {
  const { Dir, copyFdRangeAsync, constants: C } = await import('@banger/sys');
  for (const name of (await readdir(oldDir).catch(() => [] as string[])).filter((n) => !n.startsWith('.'))) {
    const target = join(layout.helper.imagesDir, name);
    if (!/^[a-z0-9][a-z0-9._-]{0,127}$/.test(name) || existsSync(target)) {
      actions.push({ action: 'copy image', target: name, status: 'skipped', detail: existsSync(target) ? 'already in the store' : 'not an image id' });
      continue;
    }
    if (dryRun) {
      actions.push({ action: 'copy image', target: `${join(oldDir, name)} -> ${target}`, status: 'skipped', detail: 'dry run' });
      continue;
    }
    const tmp = join(layout.helper.buildDir, `.upgrade-${name}`);
    await rm(tmp, { recursive: true, force: true });
    await mkdir(tmp, { mode: 0o700 });
    try {
      using src = Dir.open(oldDir).openDir(name);
      using dst = Dir.open(tmp, { expect: { uid: 0, notWritableByOthers: true } });
      let copied = 0;
      for (const f of ['rootfs.ext4', 'work-seed.ext4', 'image.json']) {
        // Read without following a link; a link or anything but a regular file is not an image file.
        let from;
        try {
          from = src.open(f, C.O_RDONLY | C.O_NONBLOCK);
        } catch {
          continue;
        }
        using input = from;
        if (input.stat().type !== 'file') continue;
        using output = dst.open(f, C.O_WRONLY | C.O_CREAT | C.O_EXCL, 0o640);
        await copyFdRangeAsync(input.fd, output.fd);
        copied++;
      }
      if (copied === 0) throw new Error('no image files');
      await rename(tmp, target);
      actions.push({ action: 'copy image', target: `${join(oldDir, name)} -> ${target}`, status: 'done', detail: `${copied} files` });
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      actions.push({ action: 'copy image', target: name, status: 'failed', detail: err instanceof Error ? err.message : String(err) });
    }
  }
}

/** The image a pre-upgrade overlay names as its backing file (its directory is the image id). */
async function backingImage(overlay: string): Promise<string | undefined> {
  try {
    const { stdout } = await execFileP('qemu-img', ['info', '--output=json', '-U', overlay]);
    const b = (JSON.parse(stdout) as { 'backing-filename'?: string })['backing-filename'];
    return b ? basename(dirname(b)) : undefined;
  } catch {
    return undefined;
  }
}

async function moveVmDisks(layout: BangerLayout, oldDir: string, dryRun: boolean, actions: Action[]): Promise<void> {
  for (const id of (await readdir(oldDir).catch(() => [] as string[])).filter((n) => /^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/.test(n))) {
    const from = join(oldDir, id);
    const to = join(layout.helper.vmsDir, id);
    if (existsSync(to)) {
      actions.push({ action: 'move vm disks', target: id, status: 'skipped', detail: 'already moved' });
      continue;
    }
    const root = (await regularRootFile(join(from, 'root.qcow2'))) ? join(from, 'root.qcow2') : undefined;
    const work = (await regularRootFile(join(from, 'work.ext4'))) ? join(from, 'work.ext4') : undefined;
    const image = root ? await backingImage(root) : undefined;
    if (!root || !image || !existsSync(join(layout.helper.imagesDir, image))) {
      actions.push({ action: 'move vm disks', target: id, status: 'failed', detail: 'no root-owned overlay over an image in the store; recreate this VM' });
      continue;
    }
    if (dryRun) {
      actions.push({ action: 'move vm disks', target: `${from} -> ${to}`, status: 'skipped', detail: 'dry run' });
      continue;
    }
    await mkdir(to, { mode: 0o700 });
    await rename(root, join(to, 'root.qcow2'));
    if (work) await rename(work, join(to, 'work.ext4'));
    const rec = { schema: 1, root: { image, createdAt: new Date().toISOString() }, ...(work ? { work: { image, sizeBytes: (await lstat(join(to, 'work.ext4'))).size } } : {}) };
    await writeFile(join(to, 'disks.json'), `${JSON.stringify(rec)}\n`, { mode: 0o600 });
    actions.push({ action: 'move vm disks', target: `${from} -> ${to}`, status: 'done', detail: `over image ${image}` });
  }
}

async function upgrade(ctx: CommandContext, root: string, dryRun: boolean): Promise<number> {
  const configFile = under(root, CONFIG_PATH);
  const paths = existsSync(configFile) ? parseConfig(await readFile(configFile, 'utf8'), configFile, { env: {}, uid: 0 }).paths : SYSTEM_PATHS;
  const layout = bangerLayout({ paths: { stateDir: under(root, paths.stateDir), runDir: under(root, paths.runDir), cacheDir: under(root, paths.cacheDir) } });
  for (const sock of [join(layout.helper.runRoot, '..', 'vmd.sock'), join(layout.helper.runRoot, '..', 'imaged.sock'), join(layout.helper.runRoot, '..', 'privhelper.sock'), join(layout.helper.runRoot, 'privhelper.sock')]) {
    if (await live(sock)) throw new CliError(`stop banger's daemons first (${sock} answers): systemctl stop banger-vmd banger-imaged banger-privhelper, or scripts/daemons.sh stop`, EXIT.PRECONDITION, 'DAEMONS_RUNNING');
  }
  if (root === '/' && (await runningVms()).length > 0) throw new CliError('stop every VM first (banger vm stop NAME): their disks move', EXIT.PRECONDITION, 'VMS_RUNNING');
  const account = await lookupAccount(root);
  if (!account.user || !account.group) throw new CliError('there is no banger account: run banger system install instead', EXIT.PRECONDITION, 'ACCOUNT_MISSING');
  const actions: Action[] = [];
  const ids = { daemonUid: account.user.id, daemonGid: account.group.id, clientGid: account.group.id };
  const state = dirname(layout.helper.stateRoot);
  const oldImages = join(state, 'images');
  const oldVms = join(state, 'vms');
  if (!dryRun) for (const d of applyLayout(layout, ids, '/')) if (d.created) actions.push({ action: 'create directory', target: d.path, status: 'done', detail: `${d.mode} ${d.owner}` });
  await copyImages(layout, oldImages, dryRun, actions);
  await moveVmDisks(layout, oldVms, dryRun, actions);
  const drop = [oldImages, oldVms, join(dirname(layout.helper.runRoot), 'vms'), join(dirname(layout.helper.cacheRoot), 'debootstrap'), join(dirname(layout.helper.cacheRoot), 'npm')];
  for (const d of drop) {
    if (!existsSync(d)) continue;
    if (dryRun) actions.push({ action: 'remove', target: d, status: 'skipped', detail: 'dry run' });
    else if (actions.some((a) => a.status === 'failed')) actions.push({ action: 'remove', target: d, status: 'skipped', detail: 'kept: an earlier step failed' });
    else {
      await rm(d, { recursive: true, force: true });
      actions.push({ action: 'remove', target: d, status: 'done', detail: d.endsWith('debootstrap') || d.endsWith('npm') ? 'untrusted build cache; rebuilt on the next build' : 'converted' });
    }
  }
  const failed = actions.some((a) => a.status === 'failed');
  if (ctx.json) ctx.printJson({ root, dryRun, actions, ok: !failed });
  else {
    ctx.table(['ACTION', 'STATUS', 'TARGET', 'DETAIL'], actions.map((a) => [a.action, a.status, a.target, a.detail ?? '']));
    if (actions.length === 0) ctx.line('nothing to upgrade: the layout is current');
  }
  return failed ? EXIT.GENERIC : 0;
}

export const systemUpgradeCommand: CommandSpec = {
  path: ['system', 'upgrade'],
  summary: "Convert an older banger layout to today's (root-owned privhelper roots), with the daemons and VMs stopped",
  usage: '[--dry-run] [--root DIR]',
  description:
    "Moves VM disks and images from the layout of earlier banger versions (where the banger user owned the state directory) into privhelper's root-owned store: image files are copied into fresh root-owned files, VM disks move only when root owns them, and build caches that the banger user could write are dropped. Refuses while a daemon answers or a VM runs. Idempotent.",
  options: {
    root: ROOT_OPTION,
    'dry-run': { type: 'boolean', description: 'say what would change, change nothing' },
  },
  async run(ctx, { values }) {
    return upgrade(ctx, rootOf(str(values, 'root')), bool(values, 'dry-run'));
  },
};
