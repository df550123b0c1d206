export { ConfigError } from './errors.js';
export type { Accel, BangerConfig, Bounds, LoadConfigOptions, LogLevel } from './config.js';
export {
  ACCELS,
  LOG_LEVELS,
  SYSTEM_CONFIG_PATH,
  buildConfig,
  databaseDataDir,
  loadConfig,
  parseConfig,
  resolveConfigPath,
} from './config.js';
export { envName } from './reader.js';
