import * as imagev1 from '@banger/api/image';
import { mintOpId } from '@banger/runtime';
import { arg, bool, str, type CommandSpec } from '../command.js';
import type { CommandContext } from '../context.js';
import { UsageError } from '../errors.js';
import { followOperation } from '../operation.js';
import { printOpResult } from '../render/results.js';

/** Cancels an imaged operation (image build or kernel pull) on Ctrl-C with `--rm-on-detach`. */
export function cancelImageOperation(ctx: CommandContext) {
  return async (opId: string): Promise<void> => {
    await ctx.imaged().unary('cancelOperation', { opId }, ctx.callOptions({ timeoutMs: 10_000 }));
  };
}

function parseInit(raw: string | undefined): imagev1.InitMode {
  if (raw === undefined) return imagev1.InitMode.INIT_MODE_UNSPECIFIED;
  if (raw === 'systemd') return imagev1.InitMode.INIT_MODE_SYSTEMD;
  if (raw === 'minimal') return imagev1.InitMode.INIT_MODE_MINIMAL;
  throw new UsageError(`--init: expected systemd or minimal, got ${JSON.stringify(raw)}`);
}

export const imageBuildCommand: CommandSpec = {
  path: ['image', 'build'],
  ownsInterrupt: true,
  summary: 'Build an image from an allow-listed recipe, following its stages live',
  usage: 'RECIPE [--name NAME] [--kernel KERNEL] [--init systemd|minimal] [--force] [--rm-on-detach]',
  description: "An unchanged recipe fingerprint is a no-op that says so. Ctrl-C detaches (re-attach: banger ops watch OP_ID).\nSee 'banger image recipes' for the recipe names.",
  args: { min: 1, max: 1, names: 'RECIPE' },
  options: {
    name: { type: 'string', value: 'NAME', description: 'image name (default: the recipe name)' },
    kernel: { type: 'string', value: 'KERNEL', description: "kernel override (default: the recipe's)" },
    init: { type: 'string', value: 'MODE', description: "guest init: systemd or minimal (default: the recipe's)" },
    force: { type: 'boolean', description: 'rebuild even when the fingerprint is unchanged' },
    'rm-on-detach': { type: 'boolean', description: 'cancel the build when detached (Ctrl-C)' },
  },
  async run(ctx, args) {
    const rm = bool(args.values, 'rm-on-detach');
    const request = imagev1.BuildImageRequest.fromPartial({
      recipe: arg(args, 0),
      name: str(args.values, 'name') ?? '',
      kernel: str(args.values, 'kernel') ?? '',
      initMode: parseInit(str(args.values, 'init')),
      force: bool(args.values, 'force'),
      cancelOnDetach: rm,
    });
    const opId = mintOpId();
    const stream = ctx.imaged().serverStream('buildImage', request, { opId });
    return followOperation(ctx, stream, { opId, reattach: 'banger ops watch', onResult: printOpResult(ctx), ...(rm ? { cancelOnInterrupt: cancelImageOperation(ctx) } : {}) });
  },
};
