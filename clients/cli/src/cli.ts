import { parseArgs } from 'node:util';
import { clientSockets, type ClientSockets } from '@banger/config';
import { RpcError } from '@banger/runtime';
import type { CommandSpec, OptionSpec, OptionValues, ParsedArgs } from './command.js';
import { GROUPS } from './commands/groups.js';
import { COMMAND_ENTRIES, type CommandEntry } from './commands/manifest.js';
import { CommandContext, type CliIo, type GlobalOptions } from './context.js';
import { ALL_DAEMONS, loadServices } from './daemon-services.js';
import { CliError, UsageError, daemonOf } from './errors.js';
import { EXIT, exitCodeForStatus } from './exit-codes.js';
import { parseDuration } from './parse/units.js';
import { writeJson } from './render/output.js';

export const GLOBAL_OPTIONS: Record<string, OptionSpec> = {
  json: { type: 'boolean', description: 'print machine-readable JSON (streams: one JSON event per line)' },
  'vmd-socket': { type: 'string', value: 'PATH', description: 'vmd socket (env BANGER_VMD_SOCKET)' },
  'imaged-socket': { type: 'string', value: 'PATH', description: 'imaged socket (env BANGER_IMAGED_SOCKET)' },
  'helper-socket': { type: 'string', value: 'PATH', description: 'privhelper socket (env BANGER_HELPER_SOCKET)' },
  timeout: { type: 'string', value: 'DURATION', description: 'deadline for each RPC, e.g. 30s (env BANGER_TIMEOUT)' },
  help: { type: 'boolean', short: 'h', description: 'show help' },
};

interface Node {
  children: Map<string, Node>;
  command?: CommandEntry;
  summary?: string;
  path: string[];
}

function buildTree(commands: readonly CommandEntry[]): Node {
  const root: Node = { children: new Map(), path: [] };
  for (const c of commands) {
    let node = root;
    for (const word of c.path) {
      let next = node.children.get(word);
      if (!next) {
        next = { children: new Map(), path: [...node.path, word] };
        const summary = GROUPS[next.path.join(' ')];
        if (summary) next.summary = summary;
        node.children.set(word, next);
      }
      node = next;
    }
    node.command = c;
  }
  return root;
}

let tree = buildTree(COMMAND_ENTRIES);
let complete = false;

/**
 * Adds the commands registered in ./commands/index.ts but missing from the manifest (loading
 * every command module): a command registered in one place only still runs.
 */
async function completeTree(): Promise<boolean> {
  if (complete) return false;
  complete = true;
  const { COMMANDS } = await import('./commands/index.js');
  const known = new Set(COMMAND_ENTRIES.map((e) => e.path.join(' ')));
  const missing = COMMANDS.filter((c) => !known.has(c.path.join(' ')));
  if (missing.length === 0) return false;
  tree = buildTree([...COMMAND_ENTRIES, ...missing.map((c): CommandEntry => ({ path: c.path, summary: c.summary, ...(c.hidden ? { hidden: true } : {}), load: () => Promise.resolve(c) }))]);
  return true;
}

function globalValueFlag(token: string): boolean {
  const name = token.replace(/^--/, '').split('=')[0] ?? '';
  return token.startsWith('--') && !token.includes('=') && GLOBAL_OPTIONS[name]?.type === 'string';
}

function isGlobalFlag(token: string): boolean {
  if (token === '-h') return true;
  const name = token.replace(/^--/, '').split('=')[0] ?? '';
  return token.startsWith('--') && name in GLOBAL_OPTIONS;
}

/** Walks leading words down the command tree; global flags may come before the command. */
function resolveIn(root: Node, argv: readonly string[]): { node: Node; rest: string[]; stray?: string } {
  let node = root;
  const pre: string[] = [];
  let i = 0;
  for (; i < argv.length; i++) {
    const token = argv[i] ?? '';
    if (isGlobalFlag(token)) {
      pre.push(token);
      if (globalValueFlag(token) && i + 1 < argv.length) pre.push(argv[++i] ?? '');
      continue;
    }
    if (token.startsWith('-') || node.command) break;
    const next = node.children.get(token);
    if (!next) return { node, rest: [...pre, ...argv.slice(i + 1)], stray: token };
    node = next;
  }
  // Global flags seen before the command go first, so they never land after a passthrough `--`.
  return { node, rest: [...pre, ...argv.slice(i)] };
}

async function resolve(argv: readonly string[]): Promise<{ node: Node; rest: string[]; stray?: string }> {
  const found = resolveIn(tree, argv);
  if (found.stray === undefined || !(await completeTree())) return found;
  return resolveIn(tree, argv);
}

function optionLines(options: Record<string, OptionSpec>): string[] {
  const rows = Object.entries(options).map(([name, o]) => {
    const flag = `${o.short ? `-${o.short}, ` : '    '}--${name}${o.type === 'string' ? ` ${o.value ?? 'VALUE'}` : ''}`;
    return [flag, o.description + (o.multiple ? ' (repeatable)' : '')] as const;
  });
  const width = Math.max(0, ...rows.map(([f]) => f.length));
  return rows.map(([f, d]) => `  ${f.padEnd(width)}  ${d}`);
}

function listLines(node: Node): string[] {
  const rows: [string, string][] = [];
  const walk = (n: Node) => {
    for (const child of n.children.values()) {
      if (child.command && !child.command.hidden) rows.push([child.path.join(' '), child.command.summary]);
      walk(child);
    }
  };
  walk(node);
  const width = Math.max(0, ...rows.map(([p]) => p.length));
  return rows.map(([p, s]) => `  ${p.padEnd(width)}  ${s}`);
}

/** Help for a group or for a command; a command's module is loaded for its flags. */
async function helpFor(node: Node): Promise<string> {
  return helpText(node, await node.command?.load());
}

function helpText(node: Node, c: CommandSpec | undefined): string {
  const lines: string[] = [];
  if (c) {
    lines.push(`Usage: banger ${c.path.join(' ')}${c.usage ? ` ${c.usage}` : ''}`, '', c.summary + '.');
    if (c.description) lines.push('', c.description);
    if (c.options && Object.keys(c.options).length > 0) lines.push('', 'Flags:', ...optionLines(c.options));
  } else {
    const where = node.path.length > 0 ? `${node.path.join(' ')} ` : '';
    lines.push(`Usage: banger ${where}COMMAND [flags]`);
    if (node.summary) lines.push('', node.summary);
    if (node.path.length === 0) lines.push('', 'banger manages microVM sandboxes through the vmd, imaged and privhelper daemons.');
    lines.push('', 'Commands:', ...listLines(node));
  }
  lines.push('', 'Global flags:', ...optionLines(GLOBAL_OPTIONS));
  if (!c) lines.push('', `Run 'banger ${node.path.length > 0 ? `${node.path.join(' ')} ` : ''}COMMAND --help' for a command's flags.`);
  return lines.join('\n') + '\n';
}

function globalsFrom(values: OptionValues, env: Record<string, string | undefined>): GlobalOptions {
  let found: ClientSockets | undefined;
  // The config file is read only when no flag or BANGER_*_SOCKET names the socket.
  const pick = (flag: string, envVar: string, daemon: 'vmd' | 'imaged' | 'privhelper') => {
    const v = values[flag];
    return typeof v === 'string' && v !== '' ? v : env[envVar] || (found ??= clientSockets(env))[daemon];
  };
  const timeout = typeof values['timeout'] === 'string' ? values['timeout'] : env['BANGER_TIMEOUT'];
  return {
    json: values['json'] === true,
    vmdSocket: pick('vmd-socket', 'BANGER_VMD_SOCKET', 'vmd'),
    imagedSocket: pick('imaged-socket', 'BANGER_IMAGED_SOCKET', 'imaged'),
    helperSocket: pick('helper-socket', 'BANGER_HELPER_SOCKET', 'privhelper'),
    timeoutMs: timeout ? parseDuration('--timeout', timeout) : undefined,
  };
}

function parseCommandArgs(command: CommandSpec, argv: readonly string[]): ParsedArgs {
  let head = [...argv];
  let rest: string[] = [];
  if (command.passthrough) {
    const dd = head.indexOf('--');
    if (dd >= 0) {
      rest = head.slice(dd + 1);
      head = head.slice(0, dd);
    }
  }
  const options: Record<string, OptionSpec> = { ...GLOBAL_OPTIONS, ...command.options };
  const config = Object.fromEntries(
    Object.entries(options).map(([k, o]) => [k, { type: o.type, ...(o.short ? { short: o.short } : {}), ...(o.multiple ? { multiple: true } : {}) }]),
  );
  let parsed: { values: OptionValues; positionals: string[] };
  try {
    parsed = parseArgs({ args: head, options: config, allowPositionals: true, strict: true }) as typeof parsed;
  } catch (err) {
    const raw = err instanceof Error ? err.message : String(err);
    throw new UsageError(raw.split('\n')[0]?.replace(/\. To specify a positional.*$/, '') ?? raw);
  }
  const spec = command.args ?? { min: 0, max: 0, names: '' };
  const n = parsed.positionals.length;
  if (n < spec.min) throw new UsageError(`missing ${spec.names.split(' ').slice(n, spec.min).join(' ') || 'argument'}`);
  if (spec.max !== undefined && n > spec.max) throw new UsageError(`unexpected argument ${JSON.stringify(parsed.positionals[spec.max])}`);
  return { values: parsed.values, positionals: parsed.positionals, rest };
}

export interface ErrorReport {
  exitCode: number;
  code: string;
  reason: string;
  message: string;
  opId: string | undefined;
  fields: Record<string, string>;
  hint: string | undefined;
}

/** grpc-js's connect failure text, reduced to what the user can act on. */
export function connectProblem(details: string): string {
  if (/ENOENT/.test(details)) return 'no socket there';
  if (/ECONNREFUSED/.test(details)) return 'connection refused';
  if (/EACCES|EPERM/.test(details)) return 'permission denied on the socket (are you in the banger group?)';
  return details.replace(/\s*Resolution note:\s*$/, '').trim();
}

export function describeError(err: unknown, commandPath: string): ErrorReport {
  if (err instanceof UsageError) {
    const hint = err.hint ?? `run 'banger ${commandPath ? `${commandPath} ` : ''}--help' for usage`;
    return { exitCode: EXIT.USAGE, code: 'INVALID_ARGUMENT', reason: 'USAGE', message: err.message, opId: undefined, fields: {}, hint };
  }
  if (err instanceof RpcError) {
    const fields: Record<string, string> = { ...err.errorMetadata };
    for (const v of err.fieldViolations) fields[v.field] = v.description;
    const daemon = daemonOf(err);
    let message = err.message;
    let hint: string | undefined;
    const downstream = err.errorMetadata['daemon'];
    if (err.unreachable && daemon) {
      message = `cannot reach ${daemon.name} at ${daemon.socket}: ${connectProblem(err.details)}${err.opId ? ` (${err.opId})` : ''}`;
      hint = /EACCES|EPERM/.test(err.details)
        ? `join the group that owns the socket: 'sudo usermod -aG banger $USER', then log in again`
        : `is ${daemon.name} running? start it with 'sudo systemctl start banger-${daemon.name}', or point ${daemon.flag} / ${daemon.envVar} (or BANGER_RUN_DIR, or the config's [paths] run_dir) at its socket`;
    } else if (err.codeName === 'UNAVAILABLE' && downstream && err.reason.endsWith('_UNAVAILABLE')) {
      // The daemon we called answered: one it depends on did not.
      message = `${daemon ? `${daemon.name} answered, but ` : ''}${err.message}`;
      hint = `is ${downstream} running? start it with 'sudo systemctl start banger-${downstream}'; anything the operation left behind is cleaned up once it is back ('banger doctor' lists it)`;
    }
    return { exitCode: exitCodeForStatus(err.code), code: err.codeName, reason: err.reason, message, opId: err.opId, fields, hint };
  }
  if (err instanceof CliError) {
    return { exitCode: err.exitCode, code: 'CLI', reason: err.reason, message: err.message, opId: undefined, fields: {}, hint: undefined };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { exitCode: EXIT.GENERIC, code: 'UNKNOWN', reason: 'CLIENT_ERROR', message, opId: undefined, fields: {}, hint: undefined };
}

/** Prints a failure as one `banger: …` line (plus a hint line), or one JSON object with --json. */
export function reportError(io: CliIo, json: boolean, err: unknown, commandPath = ''): number {
  const r = describeError(err, commandPath);
  if (json) {
    const error: Record<string, unknown> = { code: r.code, reason: r.reason, message: r.message, op_id: r.opId ?? null, fields: r.fields, exit_code: r.exitCode };
    if (r.hint) error['hint'] = r.hint;
    writeJson(io.stderr, { error }, true);
  } else {
    io.stderr.write(`banger: ${r.message}\n`);
    if (r.hint) io.stderr.write(`hint: ${r.hint}\n`);
  }
  return r.exitCode;
}

/** Settles with the command, or rejects as interrupted on Ctrl-C (the call is abandoned). */
function untilInterrupted(work: Promise<number>, signal: AbortSignal): Promise<number> {
  return new Promise((resolve, reject) => {
    const interrupted = () => reject(new CliError('interrupted', EXIT.INTERRUPTED, 'INTERRUPTED'));
    if (signal.aborted) interrupted();
    signal.addEventListener('abort', interrupted, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', interrupted));
  });
}

/**
 * Runs one banger command line and resolves to its exit code. Everything outside the process
 * (streams, env, SIGINT, spawning) comes in through `io`, so tests run it in-process.
 */
export async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const wantsJson = argv.includes('--json');
  const { node, rest, stray } = await resolve(argv[0] === '--version' ? ['version', ...argv.slice(1)] : argv);
  if (node.path.length === 1 && node.path[0] === 'help' && node.command) {
    const target = await resolve(rest.filter((t) => !t.startsWith('-')));
    if (target.stray) return reportError(io, wantsJson, new UsageError(`unknown command ${JSON.stringify(target.stray)}`, "run 'banger help' for the list"));
    io.stdout.write(await helpFor(target.node));
    return EXIT.OK;
  }
  const path = node.path.join(' ');
  if (stray !== undefined) {
    return reportError(io, wantsJson, new UsageError(`unknown command ${JSON.stringify([...node.path, stray].join(' '))}`, `run 'banger ${path ? `${path} ` : ''}--help' for the list`));
  }
  if (!node.command) {
    if (rest.includes('--help') || rest.includes('-h')) {
      io.stdout.write(helpText(node, undefined));
      return EXIT.OK;
    }
    const unknownFlag = rest.find((t) => t.startsWith('-') && !isGlobalFlag(t));
    if (unknownFlag) return reportError(io, wantsJson, new UsageError(`unknown flag ${unknownFlag}`), path);
    if (node.path.length === 0) {
      io.stdout.write(helpText(node, undefined));
      return EXIT.OK;
    }
    io.stderr.write(helpText(node, undefined));
    return EXIT.USAGE;
  }
  const command = await node.command.load();
  if (rest.includes('--help') || rest.includes('-h')) {
    const dd = command.passthrough ? rest.indexOf('--') : -1;
    const before = dd >= 0 ? rest.slice(0, dd) : rest;
    if (before.includes('--help') || before.includes('-h')) {
      io.stdout.write(helpText(node, command));
      return EXIT.OK;
    }
  }
  let ctx: CommandContext | undefined;
  try {
    const args = parseCommandArgs(command, rest);
    ctx = new CommandContext(io, globalsFrom(args.values, io.env), await loadServices(node.command.daemons ?? ALL_DAEMONS));
    const work = command.run(ctx, args);
    return command.ownsInterrupt ? await work : await untilInterrupted(work, ctx.interrupt);
  } catch (err) {
    const cancelledByUs = io.interrupt?.aborted === true && err instanceof RpcError && err.codeName === 'CANCELLED';
    return reportError(io, ctx?.json ?? wantsJson, cancelledByUs ? new CliError('interrupted', EXIT.INTERRUPTED, 'INTERRUPTED') : err, path);
  } finally {
    ctx?.close();
  }
}
