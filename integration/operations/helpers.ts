import { vmv1, type commonv1 } from '@banger/api';
import { RpcError, ServiceClient } from '@banger/runtime';
import type { Stack } from '../harness/daemons.js';

export type VmClient = ServiceClient<typeof vmv1.VmServiceService>;

export function vmClient(stack: Stack): VmClient {
  return new ServiceClient(vmv1.VmServiceService, stack.socket('vmd'));
}

/** Drains a stream of `{ event }` responses; returns the events and the error it ended with, if any. */
export async function drain(stream: AsyncIterable<{ event?: vmv1.OperationEvent | undefined }>): Promise<{ events: vmv1.OperationEvent[]; error: RpcError | undefined }> {
  const events: vmv1.OperationEvent[] = [];
  try {
    for await (const res of stream) if (res.event) events.push(res.event);
    return { events, error: undefined };
  } catch (err) {
    if (err instanceof RpcError) return { events, error: err };
    throw err;
  }
}

/** `seq:case[:stage]` per event, for comparing two renderings of one stream. */
export function summary(events: vmv1.OperationEvent[]): string[] {
  return events.map((e) => {
    const v = e.body?.value as { stage?: string } | undefined;
    return `${e.seq}:${e.body?.$case ?? '?'}${v?.stage ? `:${v.stage}` : ''}`;
  });
}

export async function waitFor<T>(fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function getOperation(client: VmClient, opId: string): Promise<commonv1.Operation> {
  const res = await client.unary('getOperation', { opId });
  if (!res.operation) throw new Error('GetOperation returned no operation');
  return res.operation;
}

export function failureOf(events: vmv1.OperationEvent[]): commonv1.Failure | undefined {
  const last = events.at(-1);
  return last?.body?.$case === 'failure' ? last.body.value : undefined;
}
