import type { vmv1 } from '@banger/api';
import { durationToMs } from '@banger/runtime/duration';
import type { CommandContext } from '../context.js';
import { CliError } from '../errors.js';
import { EXIT } from '../exit-codes.js';
import { HostExtractor } from './extract.js';
import { packHostPath } from './pack.js';
import { CopyProgress } from './progress.js';

/** Data messages of this size: large enough to keep per-message costs small, well below grpc's 4 MiB default. */
const CHUNK = 1024 * 1024;

export interface CopyResult {
  direction: 'in' | 'out';
  vmId: string;
  source: string;
  destination: string;
  bytes: number;
  elapsedMs: number;
  mbPerSecond: number;
}

/**
 * The stream in messages of CHUNK bytes (the last one shorter). Host tar's pipe yields 64 KiB
 * pieces; sending each as its own message costs host CPU per message in the CLI and in vmd, which
 * under TCG is CPU the guest then lacks.
 */
export async function* rechunk(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  let held: Buffer[] = [];
  let heldBytes = 0;
  for await (const piece of source) {
    held.push(piece);
    heldBytes += piece.length;
    if (heldBytes < CHUNK) continue;
    let all = Buffer.concat(held, heldBytes);
    for (; all.length >= CHUNK; all = all.subarray(CHUNK)) yield all.subarray(0, CHUNK);
    held = all.length > 0 ? [all] : [];
    heldBytes = all.length;
  }
  if (heldBytes > 0) yield Buffer.concat(held, heldBytes);
}

function progressFor(ctx: CommandContext, label: string, forced: boolean): CopyProgress {
  return new CopyProgress(ctx.io.stderr, forced || (ctx.io.stderr.isTTY === true && !ctx.json), label);
}

function summary(r: Omit<CopyResult, 'mbPerSecond'>): CopyResult {
  return { ...r, mbPerSecond: Math.round((r.bytes / 1e6 / Math.max(0.001, r.elapsedMs / 1000)) * 10) / 10 };
}

/** Copies a host file or tree into a VM through UploadFiles (a tar stream; see docs/files.md). */
export async function uploadPath(ctx: CommandContext, ref: string, hostPath: string, guestPath: string, opts: { progress?: boolean } = {}): Promise<CopyResult> {
  const src = await packHostPath(hostPath);
  const progress = progressFor(ctx, `${hostPath} -> ${ref}:${guestPath}`, opts.progress ?? false);
  const call = ctx.vmd().clientStream('uploadFiles', ctx.callOptions());
  call.write({ msg: { $case: 'target', value: { ref, destPath: guestPath, name: src.name } } });
  let res: vmv1.UploadFilesResponse;
  try {
    for await (const chunk of rechunk(src.stream)) {
      if (!call.write({ msg: { $case: 'data', value: chunk } })) await Promise.race([call.onDrain(), call.response.then(() => undefined)]);
      progress.add(chunk.length);
    }
    call.end();
    res = await call.response;
  } catch (err) {
    call.cancel();
    // The server's answer says why better than a write that failed after it.
    const answered = await Promise.race([call.response.then(() => undefined, (e: unknown) => e), new Promise((r) => setTimeout(r, 200, undefined))]);
    throw answered ?? err;
  } finally {
    progress.end();
  }
  return summary({ direction: 'in', vmId: res.vmId, source: hostPath, destination: res.guestPath, bytes: progress.total, elapsedMs: res.elapsed ? durationToMs(res.elapsed, 'elapsed') ?? progress.elapsedMs() : progress.elapsedMs() });
}

/** Copies a guest file or tree out of a VM through DownloadFiles, extracting as this process's user. */
export async function downloadPath(ctx: CommandContext, ref: string, guestPath: string, hostPath: string, opts: { progress?: boolean } = {}): Promise<CopyResult> {
  const progress = progressFor(ctx, `${ref}:${guestPath} -> ${hostPath}`, opts.progress ?? false);
  const stream = ctx.vmd().serverStream('downloadFiles', { ref, sourcePath: guestPath }, ctx.callOptions());
  let extractor: HostExtractor | undefined;
  let vmId = '';
  let landed: string | undefined;
  try {
    for await (const msg of stream) {
      const m = msg.msg;
      if (m?.$case === 'started') {
        vmId = m.value.vmId;
        extractor = await HostExtractor.create(hostPath, m.value.name);
      } else if (m?.$case === 'data') {
        if (!extractor) throw new CliError('vmd sent data before naming the archive', EXIT.GENERIC, 'PROTOCOL');
        await extractor.push(Buffer.from(m.value));
        progress.add(m.value.length);
      } else if (m?.$case === 'done') {
        if (!extractor) throw new CliError('vmd finished without naming the archive', EXIT.GENERIC, 'PROTOCOL');
        landed = await extractor.commit();
      }
    }
    if (landed === undefined) throw new CliError('the download ended before vmd said it was complete', EXIT.GENERIC, 'DOWNLOAD_INCOMPLETE');
  } catch (err) {
    stream.cancel();
    await extractor?.abort();
    throw err;
  } finally {
    progress.end();
  }
  return summary({ direction: 'out', vmId, source: `${ref}:${guestPath}`, destination: landed, bytes: progress.total, elapsedMs: progress.elapsedMs() });
}
