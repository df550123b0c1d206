import { chmodSync, chownSync, lstatSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { BangerConfig } from './config.js';

/**
 * banger's directory layout, in one place: `banger system install`, the tmpfiles.d file, the
 * test harness and the demo create it from here, and privhelper verifies its part of it at
 * start-up (docs/trust-model.md has the table).
 *
 * The rule it encodes: root never acts by path inside a directory another uid can write. The
 * three top directories are root's; privhelper keeps everything it writes under `helper/`
 * subdirectories that only root can write; the unprivileged daemons (vmd, imaged, as the
 * `daemon` account, `banger` in production) get their own fixed subdirectories. The run
 * directory is the one shared, group-writable place (sockets), and it is sticky, like /tmp,
 * so no one can rename or replace an entry another uid made there.
 */

/** Who owns a directory: root, or the account the unprivileged daemons run as. */
export type DirOwner = 'root' | 'daemon';

export interface LayoutDir {
  readonly path: string;
  readonly owner: DirOwner;
  /** Group: root's, the daemon account's, or privhelper's client group (vmd reads VM files through it). */
  readonly group: 'root' | 'daemon' | 'client';
  readonly mode: number;
  readonly purpose: string;
}

/** privhelper's own roots and what lives in them; only root can write any of these. */
export interface HelperLayout {
  readonly stateRoot: string;
  readonly cacheRoot: string;
  readonly runRoot: string;
  /** Per-VM disks: `<vmsDir>/<vm id>/{root.qcow2,work.ext4,disks.json}`. */
  readonly vmsDir: string;
  /** Built and promoted images: `<imagesDir>/<image id>/{rootfs.ext4,work-seed.ext4,image.json}`. */
  readonly imagesDir: string;
  /** Installed kernels: `<kernelsDir>/<name>/<version>/{vmlinux,initrd.img,config,manifest.json}`. */
  readonly kernelsDir: string;
  /** Rootfs build trees (debootstrap targets). */
  readonly buildDir: string;
  /** Named snapshots: `<snapshotsDir>/<snapshot id>/{state.bin,root.qcow2,work.ext4,snapshot.json}`. */
  readonly snapshotsDir: string;
  /** Per-VM run directories (QMP, agent socket, console log, pid file). */
  readonly runVmsDir: string;
  /** Root-only caches: debootstrap base tarballs (with their sha256 index) and npm artifacts. */
  readonly debootstrapCache: string;
  readonly npmCache: string;
}

/** The unprivileged daemons' directories (writable by the daemon account). */
export interface DaemonLayout {
  /** Embedded databases, one subdirectory per daemon. */
  readonly dbDir: string;
  /** vmd's SSH key pair and known_hosts (group-readable by CLI users). */
  readonly sshDir: string;
  /** Kernels imaged pulls (unprivileged) before privhelper installs them. */
  readonly kernelStagingDir: string;
  /** imaged's private apt lists and cache. */
  readonly aptDir: string;
  /** Prometheus textfile metrics of vmd and imaged. */
  readonly metricsDir: string;
}

export interface BangerLayout {
  readonly helper: HelperLayout;
  readonly daemon: DaemonLayout;
  /** Every directory, parents first, with owner, group and mode. */
  readonly dirs: readonly LayoutDir[];
}

export function helperLayout(config: Pick<BangerConfig, 'paths'>): HelperLayout {
  const stateRoot = join(config.paths.stateDir, 'helper');
  const cacheRoot = join(config.paths.cacheDir, 'helper');
  const runRoot = join(config.paths.runDir, 'helper');
  return {
    stateRoot,
    cacheRoot,
    runRoot,
    vmsDir: join(stateRoot, 'vms'),
    imagesDir: join(stateRoot, 'images'),
    kernelsDir: join(stateRoot, 'kernels'),
    buildDir: join(stateRoot, 'build'),
    snapshotsDir: join(stateRoot, 'snapshots'),
    runVmsDir: join(runRoot, 'vms'),
    debootstrapCache: join(cacheRoot, 'debootstrap'),
    npmCache: join(cacheRoot, 'npm'),
  };
}

export function daemonLayout(config: Pick<BangerConfig, 'paths'>): DaemonLayout {
  return {
    dbDir: join(config.paths.stateDir, 'db'),
    sshDir: join(config.paths.stateDir, 'ssh'),
    kernelStagingDir: join(config.paths.stateDir, 'kernels'),
    aptDir: join(config.paths.cacheDir, 'apt'),
    metricsDir: join(config.paths.runDir, 'metrics'),
  };
}

export function bangerLayout(config: Pick<BangerConfig, 'paths'>): BangerLayout {
  const { stateDir, cacheDir, runDir } = config.paths;
  const helper = helperLayout(config);
  const daemon = daemonLayout(config);
  const d = (path: string, owner: DirOwner, group: LayoutDir['group'], mode: number, purpose: string): LayoutDir => ({ path, owner, group, mode, purpose });
  return {
    helper,
    daemon,
    dirs: [
      d(stateDir, 'root', 'root', 0o755, 'state: root-owned top, fixed subdirectories per daemon'),
      d(helper.stateRoot, 'root', 'root', 0o711, "privhelper's state"),
      d(helper.vmsDir, 'root', 'root', 0o700, 'VM disks'),
      d(helper.imagesDir, 'root', 'client', 0o750, 'image store'),
      d(helper.kernelsDir, 'root', 'client', 0o750, 'kernel store'),
      d(helper.buildDir, 'root', 'root', 0o700, 'rootfs build trees'),
      d(helper.snapshotsDir, 'root', 'root', 0o700, 'VM snapshots (state, RAM and frozen disks)'),
      d(daemon.dbDir, 'daemon', 'daemon', 0o750, 'embedded databases (vmd, imaged)'),
      d(daemon.sshDir, 'daemon', 'daemon', 0o750, "vmd's SSH key and known_hosts"),
      d(daemon.kernelStagingDir, 'daemon', 'daemon', 0o750, 'kernels pulled by imaged'),
      d(cacheDir, 'root', 'root', 0o755, 'cache: root-owned top'),
      d(helper.cacheRoot, 'root', 'root', 0o700, "privhelper's caches"),
      d(helper.debootstrapCache, 'root', 'root', 0o700, 'debootstrap base tarballs + sha256 index'),
      d(helper.npmCache, 'root', 'root', 0o700, 'npm artifacts'),
      d(daemon.aptDir, 'daemon', 'daemon', 0o750, "imaged's private apt state"),
      d(runDir, 'root', 'daemon', 0o1775, 'sockets: sticky, so no uid can rename or replace another uid\'s entry'),
      d(helper.runRoot, 'root', 'root', 0o711, "privhelper's run files"),
      d(helper.runVmsDir, 'root', 'root', 0o711, 'VM run directories (each root:client 0750)'),
      d(daemon.metricsDir, 'daemon', 'daemon', 0o755, 'metrics of vmd and imaged'),
    ],
  };
}

/** The directories privhelper writes into and therefore verifies at start-up. */
export function helperRoots(layout: HelperLayout): string[] {
  return [layout.stateRoot, layout.cacheRoot, layout.runRoot];
}

export interface LayoutIds {
  readonly daemonUid: number;
  readonly daemonGid: number;
  readonly clientGid: number;
}

export interface AppliedDir {
  readonly path: string;
  readonly created: boolean;
  readonly owner: string;
  readonly mode: string;
}

/**
 * Creates every directory of the layout (under `root`, `/` for the host) with its owner, group
 * and mode; existing ones get the owner and mode the layout says. For installers and test
 * harnesses, run as root. A path that exists as something other than a directory is an error.
 */
export function applyLayout(layout: BangerLayout, ids: LayoutIds, root = '/'): AppliedDir[] {
  const out: AppliedDir[] = [];
  const asRoot = (process.getuid?.() ?? 0) === 0;
  for (const d of layout.dirs) {
    const path = root === '/' ? d.path : join(root, d.path);
    const st = lstatSync(path, { throwIfNoEntry: false });
    if (st !== undefined && (st.isSymbolicLink() || !st.isDirectory())) throw new Error(`${path} exists and is not a directory`);
    if (st === undefined) mkdirSync(path, { recursive: true, mode: 0o755 });
    const uid = d.owner === 'daemon' ? ids.daemonUid : 0;
    const gid = d.group === 'daemon' ? ids.daemonGid : d.group === 'client' ? ids.clientGid : 0;
    if (asRoot) chownSync(path, uid, gid);
    chmodSync(path, d.mode);
    out.push({ path, created: st === undefined, owner: `${uid}:${gid}`, mode: d.mode.toString(8).padStart(4, '0') });
  }
  return out;
}

/** The layout as tmpfiles.d(5) lines, for systemd to recreate the volatile run directory at boot. */
export function tmpfilesLines(layout: BangerLayout, names: { daemon: string; client: string }): string[] {
  const who = (o: 'root' | 'daemon' | 'client'): string => (o === 'root' ? 'root' : o === 'daemon' ? names.daemon : names.client);
  return layout.dirs.map((d) => `d ${d.path} ${d.mode.toString(8).padStart(4, '0')} ${who(d.owner)} ${who(d.group)} -`);
}
