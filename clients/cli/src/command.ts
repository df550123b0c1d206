import { UsageError } from './errors.js';
import type { CommandContext } from './context.js';

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  /** Placeholder shown in help, e.g. `MIB`. */
  value?: string;
  description: string;
}

export type OptionValues = Record<string, string | boolean | (string | boolean)[] | undefined>;

export interface ParsedArgs {
  values: OptionValues;
  positionals: string[];
  /** Arguments after `--` for commands that pass a command line through (vm exec, vm ssh). */
  rest: string[];
}

/** One CLI command: its place in the tree, its help text, its flags and what it does. */
export interface CommandSpec {
  path: readonly string[];
  summary: string;
  /** Arguments part of the usage line, e.g. `REF [--force]`. */
  usage?: string;
  description?: string;
  options?: Record<string, OptionSpec>;
  args?: { min: number; max?: number; names: string };
  /** Split the command line at `--` and pass the tail through in `rest`. */
  passthrough?: boolean;
  /**
   * The command reacts to Ctrl-C itself (streams detach, watch loops end, ssh owns the
   * terminal). Other commands are abandoned on Ctrl-C with exit 130.
   */
  ownsInterrupt?: boolean;
  /** Left out of help and completion (e.g. `__complete`, which the completion scripts call). */
  hidden?: boolean;
  run(ctx: CommandContext, args: ParsedArgs): Promise<number>;
}

export function str(values: OptionValues, name: string): string | undefined {
  const v = values[name];
  return typeof v === 'string' ? v : undefined;
}

export function bool(values: OptionValues, name: string): boolean {
  return values[name] === true;
}

export function strs(values: OptionValues, name: string): string[] {
  const v = values[name];
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : typeof v === 'string' ? [v] : [];
}

export function requireStr(values: OptionValues, name: string): string {
  const v = str(values, name);
  if (v === undefined || v === '') throw new UsageError(`--${name} is required`);
  return v;
}

/** The positional at `index`; the dispatcher already checked the count. */
export function arg(args: ParsedArgs, index: number): string {
  const v = args.positionals[index];
  if (v === undefined) throw new UsageError('missing argument');
  return v;
}
