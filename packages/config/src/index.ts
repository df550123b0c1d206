export { ConfigError } from './errors.js';
export type { Accel, BangerConfig, Bounds, HelperQuotas, JailSettings, LoadConfigOptions, LogLevel } from './config.js';
export { applyLayout, bangerLayout, daemonLayout, helperLayout, helperRoots, tmpfilesLines, type AppliedDir, type LayoutIds, type BangerLayout, type DaemonLayout, type DirOwner, type HelperLayout, type LayoutDir } from './layout.js';
export {
  ACCELS,
  JAIL_OPTIONAL_LAYERS,
  LOG_LEVELS,
  SYSTEM_CONFIG_PATH,
  buildConfig,
  connectSocketPath,
  databaseDataDir,
  loadConfig,
  parseConfig,
  resolveConfigPath,
} from './config.js';
export { envName } from './reader.js';
export { parseFileSync, type FileSyncEntry } from './file-sync.js';
export { explainUnsafe, unsafeComponent, unsafeEntriesUnder, type UnsafePath } from './secure-path.js';
export { configReference } from './reference.js';
export { clientSockets, SYSTEM_RUN_DIR, type ClientSockets } from './client-sockets.js';
