import type { CommandSpec } from '../command.js';

/** Placeholder entry so `banger help [COMMAND...]` is listed; cli.ts handles it before parsing. */
export const helpCommand: CommandSpec = {
  path: ['help'],
  summary: 'Show help for banger or for a command',
  usage: '[COMMAND...]',
  args: { min: 0, names: 'COMMAND' },
  run: () => Promise.resolve(0),
};
