import { constants } from 'node:os';
import * as vmv1 from '@banger/api/vm';
import { RpcError } from '@banger/runtime';
import { arg, bool, str, strs, type CommandSpec, type ParsedArgs } from '../command.js';
import type { CommandContext } from '../context.js';
import { UsageError } from '../errors.js';
import { EXIT } from '../exit-codes.js';
import { msToDuration } from '@banger/runtime/duration';
import { parseDuration, parseSize } from '../parse/units.js';

/** The guest command's exit status as this process's exit code (signals as 128+n, timeouts 124). */
export function exitCodeOf(status: vmv1.ExitStatus | undefined): number {
  if (!status) return EXIT.GENERIC;
  if (status.timedOut) return 124;
  if (status.signal) {
    const n = (constants.signals as Record<string, number | undefined>)[status.signal];
    return 128 + (n ?? 0);
  }
  return status.exitCode;
}

async function readAll(input: AsyncIterable<Uint8Array | string> | undefined): Promise<Uint8Array> {
  if (!input) return new Uint8Array();
  const chunks: Buffer[] = [];
  for await (const c of input) chunks.push(typeof c === 'string' ? Buffer.from(c) : Buffer.from(c));
  return Buffer.concat(chunks);
}

async function buildCommand(ctx: CommandContext, args: ParsedArgs): Promise<vmv1.ExecCommand> {
  const argv = [...args.positionals.slice(1), ...args.rest];
  if (argv.length === 0) throw new UsageError('missing command to run', "put it after '--', e.g. banger vm exec dev -- uname -a");
  const env: Record<string, string> = {};
  for (const kv of strs(args.values, 'env')) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new UsageError(`--env: expected KEY=VALUE, got ${JSON.stringify(kv)}`);
    env[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  const limit = str(args.values, 'cmd-timeout');
  return vmv1.ExecCommand.fromPartial({
    argv,
    env,
    workingDir: str(args.values, 'workdir') ?? '',
    user: str(args.values, 'user') ?? '',
    stdin: bool(args.values, 'stdin') ? await readAll(ctx.io.stdin) : new Uint8Array(),
    ...(limit ? { timeout: msToDuration(parseDuration('--cmd-timeout', limit)) } : {}),
  });
}

const text = (b: Uint8Array) => Buffer.from(b).toString('utf8');

/** Runs a command with live output (StreamExecVm); its exit status as an exit code, 130 when interrupted. */
export async function streamExec(ctx: CommandContext, ref: string, command: vmv1.ExecCommand): Promise<number> {
  const stream = ctx.vmd().serverStream('streamExecVm', { ref, command }, ctx.callOptions());
  let interrupted = false;
  const onInterrupt = () => {
    interrupted = true;
    stream.cancel();
  };
  ctx.interrupt.addEventListener('abort', onInterrupt);
  let status: vmv1.ExitStatus | undefined;
  try {
    for await (const msg of stream) {
      const out = msg.output;
      if (!out) continue;
      if (ctx.json) {
        const line = out.$case === 'exit' ? { exit: vmv1.ExitStatus.toJSON(out.value) } : { [out.$case]: text(out.value) };
        ctx.io.stdout.write(`${JSON.stringify(line)}\n`);
      } else if (out.$case === 'stdout') ctx.io.stdout.write(out.value);
      else if (out.$case === 'stderr') ctx.io.stderr.write(out.value);
      if (out.$case === 'exit') status = out.value;
    }
  } catch (err) {
    if (!(interrupted && err instanceof RpcError && err.codeName === 'CANCELLED')) throw err;
  } finally {
    ctx.interrupt.removeEventListener('abort', onInterrupt);
  }
  return interrupted ? EXIT.INTERRUPTED : exitCodeOf(status);
}

export const vmExecCommand: CommandSpec = {
  path: ['vm', 'exec'],
  ownsInterrupt: true,
  summary: "Run a command in a VM through the guest agent and exit with the command's exit code",
  usage: 'REF [flags] -- COMMAND [ARGS...]',
  description:
    'The command runs from an argument vector (no shell); wrap it in `sh -c` yourself if you need one.\nExit code: the guest command\'s; 128+N when killed by signal N; 124 when --cmd-timeout hit; banger\'s own codes when the RPC failed.',
  args: { min: 1, names: 'REF COMMAND' },
  passthrough: true,
  options: {
    stream: { type: 'boolean', description: 'stream output while the command runs (StreamExecVm)' },
    user: { type: 'string', short: 'u', value: 'USER', description: 'guest user (default root)' },
    workdir: { type: 'string', short: 'w', value: 'DIR', description: "working directory (default the user's home)" },
    env: { type: 'string', short: 'e', multiple: true, value: 'KEY=VALUE', description: 'extra environment variable' },
    stdin: { type: 'boolean', short: 'i', description: "send this process's stdin to the command" },
    'cmd-timeout': { type: 'string', value: 'DURATION', description: 'kill the guest command after this long' },
    'max-output': { type: 'string', value: 'SIZE', description: 'keep at most this much of stdout and of stderr (default 1M, at most 16M; not with --stream)' },
  },
  async run(ctx, args) {
    const ref = arg(args, 0);
    const command = await buildCommand(ctx, args);
    const maxOutput = str(args.values, 'max-output');
    if (bool(args.values, 'stream')) {
      if (maxOutput !== undefined) throw new UsageError('--max-output does not apply to --stream', 'streamed output has no size limit');
      return streamExec(ctx, ref, command);
    }
    const maxOutputBytes = maxOutput === undefined ? 0 : parseSize('--max-output', maxOutput);
    let res: vmv1.ExecVmResponse;
    try {
      res = await ctx.vmd().unary('execVm', { ref, command, maxOutputBytes }, ctx.callOptions({ signal: ctx.interrupt }));
    } catch (err) {
      if (ctx.interrupt.aborted && err instanceof RpcError && err.codeName === 'CANCELLED') return EXIT.INTERRUPTED;
      throw err;
    }
    if (ctx.json) {
      ctx.printJson({
        status: res.status ? vmv1.ExitStatus.toJSON(res.status) : null,
        stdout: text(res.stdout),
        stderr: text(res.stderr),
        stdoutTruncated: res.stdoutTruncated,
        stderrTruncated: res.stderrTruncated,
      });
    } else {
      ctx.io.stdout.write(res.stdout);
      ctx.io.stderr.write(res.stderr);
      if (res.stdoutTruncated || res.stderrTruncated) ctx.warn(`output was truncated (${[res.stdoutTruncated && 'stdout', res.stderrTruncated && 'stderr'].filter(Boolean).join(', ')}); raise --max-output or use --stream for large output`);
    }
    return exitCodeOf(res.status);
  },
};
