import type { vmv1 } from '@banger/api';
import { clientStream, msToDuration, serverStream, type RequestContext } from '@banger/runtime';
import { InvalidArgumentError } from '@banger/runtime/errors';
import type { HandlerDeps } from './use-cases.js';

/** Without a deadline of its own a copy may run this long. */
const DEFAULT_COPY_MS = 3_600_000;

function copyLimit(ctx: RequestContext): number {
  return ctx.deadline ? Math.max(1000, ctx.deadline - Date.now() - 500) : DEFAULT_COPY_MS;
}

/** The data messages after the target, as bytes; anything else in the stream is refused. */
async function* dataOf(it: AsyncIterator<vmv1.UploadFilesRequest>): AsyncGenerator<Buffer> {
  for (;;) {
    const next = await it.next();
    if (next.done) return;
    const msg = next.value.msg;
    if (msg?.$case !== 'data') throw new InvalidArgumentError('msg', 'only data may follow the target', 'TARGET_REPEATED');
    yield Buffer.from(msg.value);
  }
}

/** vm cp: tar streams in and out of a guest; the bytes are relayed (and an upload's entries checked), never extracted by vmd. */
export function filesHandlers(deps: HandlerDeps): Pick<vmv1.VmServiceServer, 'uploadFiles' | 'downloadFiles'> {
  const { useCases: uc } = deps;
  return {
    uploadFiles: clientStream<vmv1.UploadFilesRequest, vmv1.UploadFilesResponse>(async (requests, ctx) => {
      const it = requests[Symbol.asyncIterator]();
      const first = await it.next();
      const target = first.done ? undefined : first.value.msg;
      if (target?.$case !== 'target') throw new InvalidArgumentError('target', 'the first message must name the VM and the destination', 'TARGET_MISSING');
      const t = target.value;
      const res = await uc.uploadFiles.run({ ref: t.ref, destPath: t.destPath, name: t.name, data: dataOf(it), opId: ctx.opId, timeoutMs: copyLimit(ctx), signal: ctx.signal });
      ctx.logger.info({ vm: res.vm.name, guest_path: res.guestPath, bytes: res.bytes, entries: res.entries, duration_ms: res.elapsedMs }, 'files uploaded');
      return { vmId: res.vm.id, guestPath: res.guestPath, bytes: res.bytes, entries: res.entries, elapsed: msToDuration(res.elapsedMs) };
    }),
    downloadFiles: serverStream<vmv1.DownloadFilesRequest, vmv1.DownloadFilesResponse>(async (req, ctx, send) => {
      const res = await uc.downloadFiles.run(
        { ref: req.ref, sourcePath: req.sourcePath, opId: ctx.opId, timeoutMs: copyLimit(ctx), signal: ctx.signal },
        {
          started: (vm, name) => send({ msg: { $case: 'started', value: { vmId: vm.id, name } } }),
          data: (chunk) => send({ msg: { $case: 'data', value: chunk } }),
        },
      );
      await send({ msg: { $case: 'done', value: { bytes: res.bytes, elapsed: msToDuration(res.elapsedMs) } } });
    }),
  };
}
