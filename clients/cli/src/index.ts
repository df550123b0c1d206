export { run, reportError, GLOBAL_OPTIONS } from './cli.js';
export type { CliIo, GlobalOptions, SpawnFn } from './context.js';
export { EXIT, exitCodeForStatus } from './exit-codes.js';
export { COMMANDS } from './commands/index.js';
