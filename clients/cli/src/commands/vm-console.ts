import { RpcError } from '@banger/runtime';
import { arg, bool, str, type CommandSpec } from '../command.js';
import { EXIT } from '../exit-codes.js';
import { parseCount } from '../parse/units.js';
import { writeJson } from '../render/output.js';

export const vmConsoleCommand: CommandSpec = {
  path: ['vm', 'console'],
  ownsInterrupt: true,
  summary: "Print a VM's serial console log, optionally following it",
  usage: 'REF [--tail N] [--follow]',
  args: { min: 1, max: 1, names: 'REF' },
  options: {
    tail: { type: 'string', short: 'n', value: 'N', description: 'number of trailing lines to show first (default 100)' },
    follow: { type: 'boolean', short: 'f', description: 'keep printing new console output until Ctrl-C' },
  },
  async run(ctx, args) {
    const tail = str(args.values, 'tail');
    const follow = bool(args.values, 'follow');
    const stream = ctx.vmd().serverStream(
      'streamVmConsole',
      { ref: arg(args, 0), tailLines: tail ? parseCount('--tail', tail) : 100, follow },
      follow ? {} : ctx.callOptions(),
    );
    let interrupted = false;
    const onInterrupt = () => {
      interrupted = true;
      stream.cancel();
    };
    ctx.interrupt.addEventListener('abort', onInterrupt);
    try {
      for await (const chunk of stream) {
        for (const line of chunk.lines) {
          if (ctx.json) writeJson(ctx.io.stdout, { line }, true);
          else ctx.line(line);
        }
      }
    } catch (err) {
      if (!(interrupted && err instanceof RpcError && err.codeName === 'CANCELLED')) throw err;
    } finally {
      ctx.interrupt.removeEventListener('abort', onInterrupt);
    }
    return interrupted ? EXIT.INTERRUPTED : EXIT.OK;
  },
};
