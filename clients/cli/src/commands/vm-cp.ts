import { arg, bool, type CommandSpec } from '../command.js';
import { EXIT } from '../exit-codes.js';
import { parseCopyArgs } from '../files/cp-args.js';
import { downloadPath, uploadPath } from '../files/transfer.js';
import { formatBytes } from '../render/format.js';

export const vmCpCommand: CommandSpec = {
  path: ['vm', 'cp'],
  ownsInterrupt: true,
  summary: 'Copy files or directory trees between the host and a VM (NAME:PATH on one side)',
  usage: 'SRC DST',
  description: [
    'Like `cp -a`/`docker cp`: one side is a host path, the other NAME:PATH with an absolute guest path.',
    'When DST is an existing directory the copy lands inside it (DST/basename), else as DST; a DST',
    'ending in "/" must be an existing directory. Modes, owners (numeric) and mtimes are kept; on the',
    'host, owners only when you are root. Host files are read and written as you, never by a daemon.',
    'The copy is a tar stream over a direct TCP connection to the guest (see docs/files.md); it is',
    'extracted into a temporary directory beside the destination and moved into place when complete,',
    'so a failed or interrupted copy leaves nothing behind. Entries of a download that would land',
    'outside the destination (absolute, "..", through a symlink, devices) are refused.',
    'Progress goes to stderr on a terminal (or with --progress); --json prints one summary object.',
  ].join('\n'),
  args: { min: 2, max: 2, names: 'SRC DST' },
  options: {
    progress: { type: 'boolean', description: 'show progress on stderr even when it is not a terminal' },
  },
  async run(ctx, args) {
    const spec = parseCopyArgs(arg(args, 0), arg(args, 1));
    const progress = bool(args.values, 'progress');
    let res;
    try {
      res = spec.direction === 'in' ? await uploadPath(ctx, spec.ref, spec.from, spec.to, { progress }) : await downloadPath(ctx, spec.ref, spec.from, spec.to, { progress });
    } catch (err) {
      if (ctx.interrupt.aborted) return EXIT.INTERRUPTED;
      throw err;
    }
    if (ctx.json) ctx.printJson({ direction: res.direction, vm_id: res.vmId, source: res.source, destination: res.destination, bytes: res.bytes, elapsed_ms: res.elapsedMs, mb_per_second: res.mbPerSecond });
    else ctx.line(`${res.source} -> ${res.direction === 'in' ? `${spec.ref}:` : ''}${res.destination} (${formatBytes(res.bytes)} in ${(res.elapsedMs / 1000).toFixed(1)} s)`);
    return EXIT.OK;
  },
};
