import { randomBytes } from 'node:crypto';
import * as vmv1 from '@banger/api/vm';
import { mintOpId } from '@banger/runtime';
import { bool, str, strs, type CommandSpec } from '../command.js';
import { CommandContext } from '../context.js';
import { UsageError } from '../errors.js';
import { EXIT } from '../exit-codes.js';
import { packHostPath } from '../files/pack.js';
import { syncFilesFor } from '../files/sync.js';
import { uploadPath } from '../files/transfer.js';
import { followOperation } from '../operation.js';
import { cancelVmOperation } from './vm-create.js';
import { streamExec } from './vm-exec.js';
import { vmSshCommand } from './vm-ssh.js';

/** Where PATH lands in the guest: /work/<basename>; a directory is also where the command runs. */
const WORK = '/work';

async function deleteQuietly(ctx: CommandContext, name: string): Promise<boolean> {
  try {
    await ctx.vmd().unary('deleteVm', { ref: name, force: true }, { timeoutMs: 120_000 });
    return true;
  } catch (err) {
    ctx.warn(`could not delete ${name}: ${(err as Error).message}; delete it with 'banger vm delete ${name}'`);
    return false;
  }
}

export const vmRunCommand: CommandSpec = {
  path: ['vm', 'run'],
  ownsInterrupt: true,
  summary: 'Create a VM, copy PATH into /work, run a command there with live output, and exit with its status',
  usage: '[PATH] [--image IMAGE] [--name NAME] [--rm] [-d] [--sync HOST:GUEST]... [-- COMMAND [ARGS...]]',
  description: [
    'A normal create (warm snapshots are not used yet: a run costs a full boot), then PATH is copied',
    'through the same path as `vm cp` to /work/BASENAME (a directory is also where the command runs),',
    'then COMMAND runs through the guest agent with its output streamed, and its exit status becomes',
    "banger's (128+N for a signal). Without COMMAND an interactive shell opens when stdin and stdout are a",
    'terminal; otherwise give one after --. --rm deletes the VM afterwards, also after a failure or Ctrl-C;',
    'without --rm the VM stays and its name is printed on stderr. -d creates and copies, then leaves the',
    'VM running and prints its name. Create progress goes to stderr, so stdout is the command\'s.',
  ].join('\n'),
  args: { min: 0, max: 1, names: 'PATH' },
  passthrough: true,
  options: {
    image: { type: 'string', value: 'IMAGE', description: 'image name or id (default: the configured default image)' },
    name: { type: 'string', value: 'NAME', description: 'VM name (default: run-XXXXXX)' },
    rm: { type: 'boolean', description: 'delete the VM when the command ends (or fails, or on Ctrl-C)' },
    detach: { type: 'boolean', short: 'd', description: 'create and copy, then leave the VM running and print its name' },
    sync: { type: 'string', multiple: true, value: 'HOST:GUEST', description: 'copy a host file into the guest (besides [[file_sync]])' },
    'no-file-sync': { type: 'boolean', description: "do not apply the config's [[file_sync]] entries" },
    cold: { type: 'boolean', description: 'boot the image even when a matching warm snapshot exists (by default one is restored)' },
  },
  async run(ctx, args) {
    const path = args.positionals[0];
    const command = args.rest;
    const rm = bool(args.values, 'rm');
    const detach = bool(args.values, 'detach');
    if (detach && rm) throw new UsageError('-d and --rm contradict each other', '-d leaves the VM running; --rm deletes it when the command ends');
    if (detach && command.length > 0) throw new UsageError('-d runs no command', "drop the command, or drop -d to run it and wait; later: banger vm exec NAME -- COMMAND");
    const interactive = command.length === 0 && !detach;
    if (interactive && !(process.stdin.isTTY && ctx.io.stdout.isTTY === true)) {
      throw new UsageError('no command given and this is not a terminal', "give the command after '--', e.g. banger vm run . -- make test");
    }
    // Everything that can fail on the host fails before anything exists.
    if (path !== undefined) await packHostPath(path);
    const syncFiles = await syncFilesFor({ env: ctx.io.env, flags: strs(args.values, 'sync'), noConfig: bool(args.values, 'no-file-sync'), warn: (m) => ctx.warn(m) });
    const name = str(args.values, 'name') ?? `run-${randomBytes(3).toString('hex')}`;

    // Create progress on stderr: stdout belongs to the command.
    const progressCtx = new CommandContext({ ...ctx.io, stdout: ctx.io.stderr }, ctx.globals, ctx.services);
    const opId = mintOpId();
    // No wait for the image's services: the command needs the guest agent, not opencode.
    const request = vmv1.CreateVmRequest.fromPartial({ name, image: str(args.values, 'image') ?? '', noWait: true, cancelOnDetach: rm, syncFiles, cold: bool(args.values, 'cold') });
    let created: number;
    try {
      created = await followOperation(progressCtx, progressCtx.vmd().serverStream('createVm', request, { opId }), {
        opId,
        reattach: 'banger vm watch',
        onResult: () => undefined,
        ...(rm ? { cancelOnInterrupt: cancelVmOperation(progressCtx) } : {}),
      });
    } finally {
      progressCtx.close();
    }
    if (created !== EXIT.OK) return created;

    let code: number = EXIT.OK;
    try {
      let workdir = WORK;
      if (path !== undefined) {
        const copied = await uploadPath(ctx, name, path, `${WORK}/`);
        if ((await packHostPath(path)).isDir) workdir = copied.destination;
      }
      if (ctx.interrupt.aborted) code = EXIT.INTERRUPTED;
      else if (detach) {
        if (ctx.json) ctx.printJson({ name, workdir });
        else ctx.line(name);
      } else if (interactive) {
        code = await vmSshCommand.run(ctx, { values: {}, positionals: [name], rest: [] });
      } else {
        code = await streamExec(ctx, name, vmv1.ExecCommand.fromPartial({ argv: command, workingDir: workdir }));
      }
    } catch (err) {
      if (rm) await deleteQuietly(ctx, name);
      else ctx.warn(`the VM ${name} stays; delete it with 'banger vm delete ${name}'`);
      if (ctx.interrupt.aborted) return EXIT.INTERRUPTED;
      throw err;
    }
    if (rm) await deleteQuietly(ctx, name);
    else if (!detach) ctx.io.stderr.write(`banger: the VM ${name} keeps running ('banger vm delete ${name}' removes it)\n`);
    return code;
  },
};
