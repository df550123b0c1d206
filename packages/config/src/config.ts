import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { ConfigError } from './errors.js';
import { parseFileSync, type FileSyncEntry } from './file-sync.js';
import { Reader, type TakenKey } from './reader.js';
import {
  absPath,
  binary,
  databaseUrl,
  ifName,
  int,
  intList,
  ipv4Cidr,
  oneOf,
  oneOfList,
  optionalNetnsName,
  dnsUpstream,
  groupName,
  str,
} from './values.js';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const ACCELS = ['auto', 'kvm', 'tcg'] as const;
export type Accel = (typeof ACCELS)[number];

export interface Bounds {
  default: number;
  min: number;
  max: number;
}

export interface BangerConfig {
  /** Where the configuration came from: a file path, or "defaults". */
  source: string;
  paths: { stateDir: string; runDir: string; cacheDir: string };
  /** Empty url: the daemon's private PostgreSQL cluster under `<stateDir>/db/<daemon>-postgres` (see databaseDataDir). */
  database: { url: string };
  log: { level: LogLevel };
  vmd: {
    socket: string;
    /** How long an orphan (held on the host, owned by no VM or operation) must stay before vmd's janitor removes it. */
    gcGraceSeconds: number;
    /** How often the janitor runs while nothing is pending (it retries every few seconds while something is). */
    gcIntervalSeconds: number;
  };
  imaged: { socket: string };
  privhelper: {
    socket: string;
    allowedUids: number[];
    /** Group given access to VM run files (agent socket, console log), for vmd; "" for none. */
    clientGroup: string;
    /** Global quotas, beyond the per-VM `[vm]` bounds privhelper also enforces. */
    quotas: HelperQuotas;
    jail: JailSettings;
  };
  network: { cidr: string; bridge: string; netns: string | null; tapPoolSize: number; dnsUpstream: string };
  vm: {
    memoryMib: Bounds;
    vcpus: Bounds;
    workDiskGib: Bounds;
    /** From launch until the guest agent must answer (TCG boots are slow). */
    agentTimeoutSeconds: number;
    /** How long a create waits for the image's declared services. */
    servicesTimeoutSeconds: number;
    /** Image used when a create names none. */
    defaultImage: string;
  };
  hypervisor: { qemuBinary: string; accel: Accel };
  /** `[[file_sync]]`: host files the CLI copies into every VM it creates (docs/files.md). */
  fileSync: FileSyncEntry[];
}

/** privhelper's host-wide limits; going over one is RESOURCE_EXHAUSTED naming it. */
export interface HelperQuotas {
  /** VMs with disks on this host. */
  maxVms: number;
  /** Guest memory of all running VMs together, as a percentage of host RAM. */
  maxGuestMemoryPercent: number;
  /** Work disks' sizes together; 0 means at most the free space of the disk holding them. */
  maxWorkDiskTotalGib: number;
  /** Snapshot files and suspended VMs' saved states together; 0 means at most the free space beside the VMs' disks. */
  maxSnapshotTotalGib: number;
  /** Minimum time between two deep host probes (each boots a QEMU) by one caller. */
  deepProbeIntervalSeconds: number;
}

export const JAIL_OPTIONAL_LAYERS = ['namespaces', 'seccomp', 'cgroup'] as const;

/** How each VM's QEMU is jailed (docs/trust-model.md). */
export interface JailSettings {
  /** First of the uids (and gids) reserved for VMs: one per running VM, used by nothing else. */
  uidBase: number;
  uidCount: number;
  /** Layers a launch may go without when the host cannot apply them; empty: every layer or no VM. */
  optionalLayers: (typeof JAIL_OPTIONAL_LAYERS)[number][];
  /** QEMU's memory beyond guest RAM, added to the VM cgroup's limit. */
  qemuMemoryOverheadMib: number;
  pidsMax: number;
  /** Console log size at which it is rotated (one previous file kept). */
  consoleMaxMib: number;
}

export interface LoadConfigOptions {
  env: Readonly<Record<string, string | undefined>>;
  /** Explicit file; beats BANGER_CONFIG. A missing explicit file is an error. */
  path?: string;
  /** Defaults to process.getuid(); root gets system paths, others per-user ones. */
  uid?: number;
}

export const SYSTEM_CONFIG_PATH = '/etc/banger/config.toml';

interface DefaultsContext {
  env: Readonly<Record<string, string | undefined>>;
  uid: number;
}

function home(env: DefaultsContext['env']): string {
  return env['HOME'] || homedir();
}

/** Which file to read: explicit path > BANGER_CONFIG > per-user (non-root) > /etc; null = none. */
export function resolveConfigPath(opts: LoadConfigOptions): { path: string | null; explicit: boolean } {
  if (opts.path) return { path: opts.path, explicit: true };
  const fromEnv = opts.env['BANGER_CONFIG'];
  if (fromEnv) return { path: fromEnv, explicit: true };
  const uid = opts.uid ?? process.getuid?.() ?? 0;
  if (uid !== 0) {
    const xdg = opts.env['XDG_CONFIG_HOME'] || join(home(opts.env), '.config');
    const user = join(xdg, 'banger', 'config.toml');
    if (existsSync(user)) return { path: user, explicit: false };
  }
  return { path: existsSync(SYSTEM_CONFIG_PATH) ? SYSTEM_CONFIG_PATH : null, explicit: false };
}

function bounds(r: Reader, section: string, name: string, lo: number, hi: number, d: Bounds): Bounds {
  const b = {
    min: r.take(section, `min_${name}`, int(lo, hi), d.min),
    default: r.take(section, `default_${name}`, int(lo, hi), d.default),
    max: r.take(section, `max_${name}`, int(lo, hi), d.max),
  };
  if (!(b.min <= b.default && b.default <= b.max)) {
    throw new ConfigError(
      'INVALID_CONFIG_VALUE',
      `config: ${section}.default_${name}: expected min_${name} <= default_${name} <= max_${name}, got ${b.min} <= ${b.default} <= ${b.max}`,
      { key: `${section}.default_${name}` },
    );
  }
  return b;
}

/** Validates parsed TOML plus env overrides into a complete config; throws ConfigError. */
export function buildConfig(file: Record<string, unknown>, source: string, ctx: DefaultsContext, record?: (taken: TakenKey) => void): BangerConfig {
  // [[file_sync]] is an array of tables, read on its own; the Reader checks the other sections.
  const { file_sync: fileSyncRaw, ...tables } = file;
  const r = new Reader(tables, source, ctx.env, record);
  const root = ctx.uid === 0;
  const h = home(ctx.env);
  const stateDir = r.take(
    'paths',
    'state_dir',
    absPath(),
    root ? '/var/lib/banger' : join(ctx.env['XDG_STATE_HOME'] || join(h, '.local', 'state'), 'banger'),
  );
  const runDir = r.take(
    'paths',
    'run_dir',
    absPath(),
    root ? '/run/banger' : ctx.env['XDG_RUNTIME_DIR'] ? join(ctx.env['XDG_RUNTIME_DIR'], 'banger') : `/tmp/banger-${ctx.uid}`,
  );
  const cacheDir = r.take(
    'paths',
    'cache_dir',
    absPath(),
    root ? '/var/cache/banger' : join(ctx.env['XDG_CACHE_HOME'] || join(h, '.cache'), 'banger'),
  );
  const config: BangerConfig = {
    source,
    fileSync: parseFileSync(fileSyncRaw, source, h),
    paths: { stateDir, runDir, cacheDir },
    database: { url: r.take('database', 'url', databaseUrl(), '') },
    log: { level: r.take('log', 'level', oneOf(LOG_LEVELS), 'info') },
    vmd: {
      socket: r.take('vmd', 'socket', absPath(), join(runDir, 'vmd.sock')),
      gcGraceSeconds: r.take('vmd', 'gc_grace_seconds', int(0, 86_400), 120),
      gcIntervalSeconds: r.take('vmd', 'gc_interval_seconds', int(1, 3600), 60),
    },
    imaged: { socket: r.take('imaged', 'socket', absPath(), join(runDir, 'imaged.sock')) },
    privhelper: {
      // In privhelper's own root-only run root: no other uid can put anything at that name.
      socket: r.take('privhelper', 'socket', absPath(), join(runDir, 'helper', 'privhelper.sock')),
      allowedUids: r.take('privhelper', 'allowed_uids', intList(0, 0xfffffffe), [0]),
      clientGroup: r.take('privhelper', 'client_group', groupName(), 'banger'),
      quotas: {
        maxVms: r.take('privhelper', 'max_vms', int(1, 100_000), 64),
        maxGuestMemoryPercent: r.take('privhelper', 'max_guest_memory_percent', int(1, 100), 75),
        maxWorkDiskTotalGib: r.take('privhelper', 'max_work_disk_total_gib', int(0, 1 << 30), 0),
        maxSnapshotTotalGib: r.take('privhelper', 'max_snapshot_total_gib', int(0, 1 << 30), 0),
        deepProbeIntervalSeconds: r.take('privhelper', 'deep_probe_interval_seconds', int(0, 86_400), 60),
      },
      jail: {
        uidBase: r.take('privhelper', 'jail_uid_base', int(1000, 0xfffffffe - 65536), 2_000_000_000),
        uidCount: r.take('privhelper', 'jail_uid_count', int(32, 1 << 20), 65536),
        optionalLayers: r.take('privhelper', 'jail_optional_layers', oneOfList(JAIL_OPTIONAL_LAYERS), []),
        qemuMemoryOverheadMib: r.take('privhelper', 'qemu_memory_overhead_mib', int(32, 65536), 256),
        pidsMax: r.take('privhelper', 'jail_pids_max', int(16, 65536), 256),
        consoleMaxMib: r.take('privhelper', 'console_max_mib', int(1, 4096), 8),
      },
    },
    network: {
      cidr: r.take('network', 'cidr', ipv4Cidr(), '172.30.0.0/24'),
      bridge: r.take('network', 'bridge', ifName(), 'bgr-br0'),
      netns: r.take('network', 'netns', optionalNetnsName(), null),
      tapPoolSize: r.take('network', 'tap_pool_size', int(0, 1024), 0),
      dnsUpstream: r.take('network', 'dns_upstream', dnsUpstream(), ''),
    },
    vm: {
      memoryMib: bounds(r, 'vm', 'memory_mib', 64, 1 << 20, { min: 128, default: 1024, max: 16384 }),
      vcpus: bounds(r, 'vm', 'vcpus', 1, 256, { min: 1, default: 1, max: 8 }),
      workDiskGib: bounds(r, 'vm', 'work_disk_gib', 1, 65536, { min: 1, default: 4, max: 256 }),
      agentTimeoutSeconds: r.take('vm', 'agent_timeout_seconds', int(1, 3600), 240),
      servicesTimeoutSeconds: r.take('vm', 'services_timeout_seconds', int(1, 3600), 300),
      defaultImage: r.take('vm', 'default_image', str('an image name'), 'debian-bookworm'),
    },
    hypervisor: {
      qemuBinary: r.take('hypervisor', 'qemu_binary', binary(), 'qemu-system-x86_64'),
      accel: r.take('hypervisor', 'accel', oneOf(ACCELS), 'auto'),
    },
  };
  r.checkUnknown();
  return config;
}

export function parseConfig(text: string, source: string, ctx: DefaultsContext): BangerConfig {
  let file: Record<string, unknown>;
  try {
    file = parseToml(text) as Record<string, unknown>;
  } catch (err) {
    const detail = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw new ConfigError('INVALID_CONFIG_SYNTAX', `config: ${source}: not valid TOML: ${detail}`, { source }, { cause: err });
  }
  return buildConfig(file, source, ctx);
}

/**
 * Loads and validates the configuration once at start-up. Precedence: env override > file >
 * built-in default. Throws ConfigError naming the key and the expected form.
 */
export function loadConfig(opts: LoadConfigOptions): BangerConfig {
  const uid = opts.uid ?? process.getuid?.() ?? 0;
  const { path, explicit } = resolveConfigPath({ ...opts, uid });
  if (path === null) return buildConfig({}, 'defaults', { env: opts.env, uid });
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && !explicit) return buildConfig({}, 'defaults', { env: opts.env, uid });
    throw new ConfigError('CONFIG_UNREADABLE', `config: cannot read ${path}: ${code ?? String(err)}`, { source: path }, {
      cause: err,
    });
  }
  return parseConfig(text, path, { env: opts.env, uid });
}

/**
 * The private PostgreSQL cluster of one daemon, used when `database.url` is empty. Not
 * `db/<daemon>`: that held the PGlite cluster earlier builds used (a different format).
 */
export function databaseDataDir(config: Pick<BangerConfig, 'paths'>, daemon: 'vmd' | 'imaged'): string {
  return join(config.paths.stateDir, 'db', `${daemon}-postgres`);
}

/** privhelper's ConnectGuest socket, next to its gRPC socket (both root-made, 0660 root:banger). */
export function connectSocketPath(config: BangerConfig): string {
  return join(dirname(config.privhelper.socket), 'connect.sock');
}
