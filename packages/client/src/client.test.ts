import { vmv1 } from '@banger/api';
import { RpcError, type ResponseStream } from '@banger/runtime/client';
import { describe, expect, it } from 'vitest';
import { OperationCall } from './operation-call.js';
import { resolveSockets } from './sockets.js';

describe('resolveSockets', () => {
  it('prefers options, then the CLI environment variables, then the install layout', () => {
    expect(resolveSockets({ env: {} })).toEqual({ vmd: '/run/banger/vmd.sock', imaged: '/run/banger/imaged.sock' });
    expect(resolveSockets({ env: { BANGER_RUN_DIR: '/tmp/r' } })).toEqual({ vmd: '/tmp/r/vmd.sock', imaged: '/tmp/r/imaged.sock' });
    expect(resolveSockets({ env: { BANGER_RUN_DIR: '/tmp/r', BANGER_VMD_SOCKET: '/v.sock' } }).vmd).toBe('/v.sock');
    expect(resolveSockets({ runDir: '/o', vmdSocket: '/x.sock', env: { BANGER_VMD_SOCKET: '/v.sock' } })).toEqual({ vmd: '/x.sock', imaged: '/o/imaged.sock' });
  });
});

function stream(events: vmv1.OperationEvent[], error?: Error): ResponseStream<vmv1.OperationEvent> & { cancelled: boolean } {
  async function* gen(): AsyncGenerator<vmv1.OperationEvent> {
    for (const e of events) yield e;
    if (error) throw error;
  }
  const it = gen();
  const s = { cancelled: false, opId: Promise.resolve('op-aaaaaaaaaaaa'), cancel: () => void (s.cancelled = true), [Symbol.asyncIterator]: () => it };
  return s;
}

const accepted = vmv1.OperationEvent.fromPartial({ seq: 1, body: { $case: 'accepted', value: { opId: 'op-aaaaaaaaaaaa' } } });
const done = vmv1.OperationEvent.fromPartial({ seq: 2, body: { $case: 'vm', value: { name: 'dev' } } });

describe('OperationCall', () => {
  it('yields every event and remembers the final value', async () => {
    const call = new OperationCall<vmv1.OperationEvent, vmv1.Vm>(stream([accepted, done]), 'vm');
    const seen: number[] = [];
    for await (const e of call) seen.push(e.seq);
    expect(seen).toEqual([1, 2]);
    expect((await call.result()).name).toBe('dev');
    expect(await call.opId).toBe('op-aaaaaaaaaaaa');
  });

  it('drains the stream for result() when nobody iterated it', async () => {
    expect((await new OperationCall<vmv1.OperationEvent, vmv1.Vm>(stream([accepted, done]), 'vm').result()).name).toBe('dev');
  });

  it("throws the stream's RpcError from result(), and says so when no final value came", async () => {
    const failed = new RpcError({ code: 3, details: 'bad name', reason: 'INVALID_NAME', opId: 'op-aaaaaaaaaaaa' });
    await expect(new OperationCall(stream([accepted], failed), 'vm').result()).rejects.toMatchObject({ reason: 'INVALID_NAME', opId: 'op-aaaaaaaaaaaa' });
    await expect(new OperationCall(stream([accepted]), 'vm').result()).rejects.toThrow(/ended without its vm/);
  });

  it('refuses a second iteration instead of silently yielding nothing', async () => {
    const call = new OperationCall(stream([accepted, done]), 'vm');
    for await (const _ of call) void _;
    await expect(async () => {
      for await (const _ of call) void _;
    }).rejects.toThrow(/iterated once/);
  });
});
