import * as imagev1 from '@banger/api/image';
import { bool, str, type CommandSpec } from '../command.js';
import { msToDuration } from '@banger/runtime/duration';
import { parseDuration } from '../parse/units.js';
import { IMAGE_TABLE_HEADERS, imageRow } from '../render/image.js';

export const imagePruneCommand: CommandSpec = {
  path: ['image', 'prune'],
  summary: 'Delete unused images, optionally only those older than an age',
  usage: '[--older-than DURATION] [--dry-run]',
  options: {
    'older-than': { type: 'string', value: 'DURATION', description: 'only images created longer ago than this, e.g. 30d' },
    'dry-run': { type: 'boolean', description: 'show what would be deleted without deleting' },
  },
  async run(ctx, { values }) {
    const older = str(values, 'older-than');
    const dryRun = bool(values, 'dry-run');
    const request = imagev1.PruneImagesRequest.fromPartial({ dryRun, ...(older ? { olderThan: msToDuration(parseDuration('--older-than', older)) } : {}) });
    const res = await ctx.imaged().unary('pruneImages', request, ctx.callOptions());
    if (ctx.json) ctx.printJson({ dry_run: dryRun, ...(imagev1.PruneImagesResponse.toJSON(res) as object) });
    else if (res.deleted.length === 0) ctx.line('nothing to prune');
    else {
      const now = ctx.now();
      ctx.table(IMAGE_TABLE_HEADERS, res.deleted.map((i) => imageRow(i, now)));
      ctx.line(dryRun ? `${res.deleted.length} image(s) would be deleted (dry run)` : `${res.deleted.length} image(s) deleted`);
    }
    return 0;
  },
};
