import * as vmv1 from '@banger/api/vm';
import { arg, type CommandSpec } from '../command.js';
import { UsageError } from '../errors.js';
import { bashCompletion } from '../completion/bash.js';
import { fishCompletion } from '../completion/fish.js';
import { completionModel, type CompletionModel } from '../completion/model.js';
import { zshCompletion } from '../completion/zsh.js';

const SHELLS: Readonly<Record<string, (m: CompletionModel) => string>> = { bash: bashCompletion, zsh: zshCompletion, fish: fishCompletion };

/** The completion script for `shell`, generated from the live command registry. */
export async function completionScript(shell: string): Promise<string> {
  const generate = SHELLS[shell];
  if (!generate) throw new UsageError(`unknown shell ${JSON.stringify(shell)}`, `use one of ${Object.keys(SHELLS).join(', ')}`);
  // Loaded here, not at the top: the registry imports this file.
  const [{ COMMANDS, GROUPS }, { GLOBAL_OPTIONS }] = await Promise.all([import('./index.js'), import('../cli.js')]);
  return generate(completionModel(COMMANDS, GLOBAL_OPTIONS, GROUPS));
}

export const completionCommand: CommandSpec = {
  path: ['completion'],
  summary: 'Print a shell completion script (bash, zsh or fish)',
  usage: 'bash|zsh|fish',
  description: [
    'VM names are completed live: the scripts call the hidden `banger __complete vms`.',
    '  bash: banger completion bash | sudo tee /usr/share/bash-completion/completions/banger',
    '  zsh:  banger completion zsh > "${fpath[1]}/_banger"',
    '  fish: banger completion fish > ~/.config/fish/completions/banger.fish',
  ].join('\n'),
  args: { min: 1, max: 1, names: 'SHELL' },
  async run(ctx, args) {
    const script = await completionScript(arg(args, 0));
    if (ctx.json) ctx.printJson({ shell: arg(args, 0), script });
    else ctx.write(script);
    return 0;
  },
};

/** What the completion scripts ask for; one name per line, quickly (short deadline). */
export const completeCommand: CommandSpec = {
  path: ['__complete'],
  hidden: true,
  summary: 'List names for shell completion',
  usage: 'vms',
  args: { min: 1, max: 1, names: 'KIND' },
  async run(ctx, args) {
    const kind = arg(args, 0);
    if (kind !== 'vms') throw new UsageError(`unknown completion kind ${JSON.stringify(kind)}`, 'use vms');
    const res = await ctx.vmd().unary('listVms', vmv1.ListVmsRequest.fromPartial({}), ctx.callOptions({ timeoutMs: ctx.globals.timeoutMs ?? 2000 }));
    const names = res.vms.map((vm) => vm.name).sort();
    if (ctx.json) ctx.printJson({ vms: names });
    else ctx.write(names.map((n) => `${n}\n`).join(''));
    return 0;
  },
};
