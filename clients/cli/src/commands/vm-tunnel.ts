import { RpcError } from '@banger/runtime';
import { arg, str, type CommandSpec } from '../command.js';
import { annotateDaemon } from '../errors.js';
import { EXIT } from '../exit-codes.js';
import { parseDuration, parsePort } from '../parse/units.js';

export const vmTunnelCommand: CommandSpec = {
  path: ['vm', 'tunnel'],
  ownsInterrupt: true,
  summary: "Relay stdin and stdout to a TCP port of a VM's guest (ssh's ProxyCommand)",
  usage: 'REF PORT [--wait DURATION]',
  description:
    "Connects to PORT in the guest through vmd (and privhelper, when VMs live in a network namespace)\nand relays bytes until the guest closes. `banger vm ssh` and `banger ssh-config` use it as\nProxyCommand, so ssh works in every network mode without root.",
  args: { min: 2, max: 2, names: 'REF PORT' },
  options: { wait: { type: 'string', value: 'DURATION', description: 'keep trying while nothing listens on PORT yet, e.g. 30s (default: fail at once)' } },
  async run(ctx, args) {
    const port = parsePort('PORT', arg(args, 1));
    const wait = str(args.values, 'wait');
    const waitForListenerMs = wait === undefined ? 0 : parseDuration('--wait', wait);
    const call = ctx.vmd().bidiStream('openTunnel', { signal: ctx.interrupt });
    call.write({ msg: { $case: 'open', value: { ref: arg(args, 0), port, waitForListenerMs } } });
    const stdin = ctx.io.stdin;
    const upstream = (async () => {
      if (stdin) {
        for await (const chunk of stdin) {
          if (!call.write({ msg: { $case: 'data', value: typeof chunk === 'string' ? Buffer.from(chunk) : chunk } })) await call.onDrain();
        }
      }
      call.end();
    })();
    try {
      for await (const res of call) {
        if (res.msg?.$case === 'data') ctx.io.stdout.write(res.msg.value);
      }
    } catch (err) {
      if (ctx.interrupt.aborted && err instanceof RpcError && err.codeName === 'CANCELLED') return EXIT.INTERRUPTED;
      throw annotateDaemon(err, ctx.daemons.vmd);
    } finally {
      // The guest closed (or the tunnel failed): what stdin still holds has nowhere to go, and an
      // open stdin would keep this process, and the ssh waiting on it, alive.
      (stdin as { destroy?: () => void } | undefined)?.destroy?.();
      void upstream.catch(() => undefined);
    }
    return EXIT.OK;
  },
};
