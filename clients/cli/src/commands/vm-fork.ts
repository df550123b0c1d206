import type { vmv1 } from '@banger/api';
import { mintOpId } from '@banger/runtime';
import { arg, bool, str, type CommandSpec } from '../command.js';
import { EXIT } from '../exit-codes.js';
import { followOperation } from '../operation.js';
import { parseCount } from '../parse/units.js';
import { printOpResult } from '../render/results.js';

export const vmForkCommand: CommandSpec = {
  path: ['vm', 'fork'],
  ownsInterrupt: true,
  summary: 'Snapshot a running VM and start clones of it (it keeps running)',
  usage: 'REF [--count K] [--prefix P] [--no-wait]',
  description:
    "Clones are named P-1..P-K (P defaults to the VM's name), each with its own MAC, address, NAME.vm, hostname,\nmachine-id and SSH host keys; they share the source's files as of the fork and its service secrets. A clone that\nfails is rolled back and listed; the others stay (exit 1 when any failed). Ctrl-C detaches without cancelling.",
  args: { min: 1, max: 1, names: 'REF' },
  options: {
    count: { type: 'string', value: 'K', description: 'how many clones (1-16, default 1)' },
    prefix: { type: 'string', value: 'P', description: "clone name prefix (default: the VM's name)" },
    'no-wait': { type: 'boolean', description: "do not wait for the clones' guest services" },
  },
  async run(ctx, args) {
    const opId = mintOpId();
    const raw = str(args.values, 'count');
    const request = { ref: arg(args, 0), count: raw === undefined ? 1 : parseCount('--count', raw), prefix: str(args.values, 'prefix') ?? '', noWait: bool(args.values, 'no-wait') };
    const stream = ctx.vmd().serverStream('forkVm', request, { opId });
    let failed = 0;
    const code = await followOperation(ctx, stream, {
      opId,
      reattach: 'banger vm watch',
      onResult: printOpResult(ctx),
      onEvent: (ev) => {
        if (ev.body?.$case === 'fork') failed = (ev.body.value as vmv1.ForkResult).failed.length;
      },
    });
    return code === EXIT.OK && failed > 0 ? EXIT.GENERIC : code;
  },
};
