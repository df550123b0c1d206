import { RpcError, type ResponseStream } from '@banger/runtime';
import * as vmv1 from '@banger/api/vm';
import * as imagev1 from '@banger/api/image';
import type { CommandContext } from './context.js';
import { EXIT } from './exit-codes.js';
import { EventRenderer, type ResultBody, type StreamEvent } from './render/events.js';
import { writeJson } from './render/output.js';

export interface FollowOptions {
  /** Command that re-attaches, e.g. `banger vm watch`. */
  reattach: string;
  /** The op id the CLI sent (the daemon adopts it); used until the Accepted event arrives. */
  opId: string;
  /** Ask the daemon to cancel on Ctrl-C instead of detaching (`--rm-on-detach`). */
  cancelOnInterrupt?: (opId: string) => Promise<void>;
  onResult: (result: ResultBody, elapsedMs: number) => void;
  /** Stop after this event seq without waiting for the end (ops show on a running operation). */
  stopAfterSeq?: number;
  /** Sees every event, in JSON mode too (e.g. to pick the exit code from the result). */
  onEvent?: (ev: StreamEvent) => void;
  /** Replay rendering: plain lines even on a TTY. */
  plain?: boolean;
}

/** Turns vm and image event protos into proto3 JSON for `--json` event lines. */
export function eventToJson(ev: StreamEvent): unknown {
  return ev.body?.$case === 'image' || ev.body?.$case === 'kernel'
    ? imagev1.OperationEvent.toJSON(ev as imagev1.OperationEvent)
    : vmv1.OperationEvent.toJSON(ev as vmv1.OperationEvent);
}

/**
 * Follows an operation stream to its end with the live renderer (or JSON lines). Ctrl-C
 * detaches without cancelling, prints how to re-attach and yields 130; with
 * `cancelOnInterrupt` it asks the daemon to cancel and keeps rendering the rollback.
 * A failure ends the stream with an RpcError, which is rethrown for the one error line.
 */
export async function followOperation(
  ctx: CommandContext,
  stream: ResponseStream<{ event?: StreamEvent | undefined }>,
  options: FollowOptions,
): Promise<number> {
  let opId = options.opId;
  const renderer = ctx.json
    ? undefined
    : new EventRenderer({ out: ctx.io.stdout, style: ctx.style, live: !options.plain && ctx.io.stdout.isTTY === true, onResult: options.onResult });
  let interrupted = false;
  let cancelling = false;
  const onInterrupt = () => {
    if (options.cancelOnInterrupt && !cancelling) {
      cancelling = true;
      renderer?.print(`cancelling ${opId}; rolling back (Ctrl-C again to stop watching)`);
      options.cancelOnInterrupt(opId).catch(() => {
        interrupted = true;
        stream.cancel();
      });
      return;
    }
    interrupted = true;
    stream.cancel();
  };
  if (ctx.interrupt.aborted) onInterrupt();
  ctx.interrupt.addEventListener('abort', onInterrupt);
  try {
    for await (const res of stream) {
      const ev = res.event;
      if (!ev) continue;
      if (ev.body?.$case === 'accepted') opId = ev.body.value.opId || opId;
      else if (ev.opId) opId = ev.opId;
      options.onEvent?.(ev);
      if (ctx.json) writeJson(ctx.io.stdout, eventToJson(ev), true);
      else renderer?.handle(ev);
      if (options.stopAfterSeq !== undefined && ev.seq >= options.stopAfterSeq) {
        stream.cancel();
        break;
      }
    }
  } catch (err) {
    if (!(interrupted && err instanceof RpcError && err.codeName === 'CANCELLED')) {
      renderer?.close();
      throw err;
    }
  } finally {
    ctx.interrupt.removeEventListener('abort', onInterrupt);
    renderer?.close();
  }
  if (interrupted) {
    const how = `${options.reattach} ${opId}`;
    if (ctx.json) writeJson(ctx.io.stdout, { detached: true, op_id: opId, reattach: how }, true);
    else ctx.line(`detached; re-attach with: ${how}`);
    return EXIT.INTERRUPTED;
  }
  return cancelling ? EXIT.INTERRUPTED : EXIT.OK;
}
