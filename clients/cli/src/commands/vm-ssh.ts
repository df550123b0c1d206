import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { arg, bool, type CommandSpec } from '../command.js';
import { recordHostKeys } from '../known-hosts.js';
import { knownHostsPath, spawnInherit, sshArgv } from '../ssh.js';

export const vmSshCommand: CommandSpec = {
  path: ['vm', 'ssh'],
  ownsInterrupt: true,
  summary: 'Open an ssh session to a VM',
  usage: 'REF [--print] [-- SSH_ARGS...]',
  description:
    "Runs ssh through `banger vm tunnel` (so it works in every network mode, also when VMs live in a\nnetwork namespace), with the key from BANGER_SSH_KEY (else banger's own), StrictHostKeyChecking=accept-new\n(a clone's host keys, which vmd made, are written to known_hosts first and checked strictly), the VM's id as HostKeyAlias and banger's known_hosts file under ~/.local/state/banger (one per user,\nthe same `vm show` and `ssh-config` name).",
  args: { min: 1, max: 1, names: 'REF' },
  passthrough: true,
  options: { print: { type: 'boolean', description: 'print the ssh command instead of running it' } },
  async run(ctx, args) {
    const ref = arg(args, 0);
    const { vm } = await ctx.vmd().unary('getVm', { ref, includeSecrets: false }, ctx.callOptions());
    if (!vm) throw new Error('vmd answered without a VM');
    const argv = sshArgv(vm, ctx.io.env, args.rest, { vmdSocket: ctx.globals.vmdSocket });
    await recordHostKeys([vm], ctx.io.env);
    if (bool(args.values, 'print')) {
      if (ctx.json) ctx.printJson({ argv: ['ssh', ...argv] });
      else ctx.line(['ssh', ...argv].join(' '));
      return 0;
    }
    await mkdir(dirname(knownHostsPath(ctx.io.env)), { recursive: true, mode: 0o700 });
    await ctx.vmd().unary('touchVm', { ref: vm.id || ref }, ctx.callOptions()).catch(() => undefined);
    return (ctx.io.spawn ?? spawnInherit)('ssh', argv);
  },
};
