import * as vmv1 from '@banger/api/vm';
import { mintOpId } from '@banger/runtime';
import { bool, str, type CommandSpec } from '../command.js';
import { followOperation } from '../operation.js';
import { MIB, parseCount, parseSize } from '../parse/units.js';
import { printOpResult } from '../render/results.js';

export const imageWarmCommand: CommandSpec = {
  path: ['image', 'warm'],
  summary: 'Make the warm snapshot a default vm create of this image and shape restores from',
  usage: '[IMAGE] [--memory MIB] [--vcpus N] [--work-disk GIB] [--no-wait]',
  description:
    'Boots a template VM of the image (cold), waits for its services, snapshots it and deletes it; an older warm\nsnapshot of the same image and shape is replaced. A vm create that asks for the same memory, vCPUs and work\ndisk then restores it instead of booting (--cold boots). A warm snapshot whose image changed is discarded by\nthe next create, which boots. The shape flags default as vm create\'s do.',
  args: { min: 0, max: 1, names: 'IMAGE' },
  options: {
    memory: { type: 'string', value: 'MIB', description: 'guest memory; a bare number is MiB, or e.g. 2G' },
    vcpus: { type: 'string', value: 'N', description: 'virtual CPUs' },
    'work-disk': { type: 'string', value: 'GIB', description: 'work disk size; a bare number is GiB, or e.g. 512M' },
    'no-wait': { type: 'boolean', description: "snapshot once the template's agent answers, before its services are ready (clones then wait for them)" },
  },
  async run(ctx, { values, positionals }) {
    const memory = str(values, 'memory');
    const vcpus = str(values, 'vcpus');
    const workDisk = str(values, 'work-disk');
    const request = vmv1.WarmImageRequest.fromPartial({
      image: positionals[0] ?? '',
      memoryMib: memory ? Math.round(parseSize('--memory', memory, 'm') / MIB) : 0,
      vcpus: vcpus ? parseCount('--vcpus', vcpus) : 0,
      workDiskSizeBytes: workDisk ? parseSize('--work-disk', workDisk, 'g') : 0,
      noWait: bool(values, 'no-wait'),
    });
    const opId = mintOpId();
    const stream = ctx.vmd().serverStream('warmImage', request, { opId });
    return followOperation(ctx, stream, { opId, reattach: 'banger vm watch', onResult: printOpResult(ctx) });
  },
};
