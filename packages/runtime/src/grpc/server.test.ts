import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import { descriptorSetPath, vmv1 } from '@banger/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { currentOpId } from '../context.js';
import { BangerError, FailedPreconditionError, NotFoundError, PermissionDeniedError } from '../errors.js';
import { createLogger, setRootLogger } from '../logging.js';
import { OP_ID_PATTERN } from '../opid.js';
import { RpcError, ServiceClient } from './client.js';
import { serverStream, unary } from './handlers.js';
import { BangerServer } from './server.js';
import { decodeStatusDetails } from './status.js';

interface LogLine {
  msg: string;
  op_id?: string;
  method?: string;
  code?: string;
  duration_ms?: number;
  service: string;
  level: string;
  time: string;
}

function capture(): { lines: LogLine[]; stream: Writable } {
  const lines: LogLine[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l) as LogLine);
      cb();
    },
  });
  return { lines, stream };
}

describe('BangerServer over a Unix socket', () => {
  let dir: string;
  let socketPath: string;
  let server: BangerServer;
  let client: ServiceClient<typeof vmv1.VmServiceService>;
  const logs = capture();
  let deniedUid: number | undefined;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'banger-rt-'));
    socketPath = join(dir, 'vmd.sock');
    const logger = createLogger({ service: 'vmd', level: 'debug', destination: logs.stream });
    setRootLogger(logger);
    server = new BangerServer({
      logger,
      serviceNames: ['banger.vm.v1.VmService'],
      descriptorSetPath,
      authorize: (peer) => (deniedUid !== undefined && peer?.uid === deniedUid ? new PermissionDeniedError('UID_NOT_ALLOWED', 'uid not allowed') : undefined),
    });
    server.addService(vmv1.VmServiceService, {
      getServerInfo: unary(async () => {
        return { info: { name: 'vmd', version: '0.0.0', apiVersion: '1', startedAt: new Date(), pid: process.pid } };
      }),
      getVm: unary(async (req: vmv1.GetVmRequest, ctx) => {
        ctx.logger.info({ ref: req.ref }, 'looking up vm');
        if (req.ref === 'echo-op') throw new FailedPreconditionError('ECHO', String(currentOpId()));
        if (req.ref === 'module-internal') throw new BangerError('INTERNAL', 'QUERY_FAILED', 'invalid byte sequence for encoding "UTF8": 0x00', { fields: { code: '22021' } });
        throw new NotFoundError('vm', req.ref);
      }),
      listVms: unary(async () => {
        throw new Error('secret db password leaked in message');
      }),
      createVm: serverStream(async (req: vmv1.CreateVmRequest, ctx, send) => {
        await send({ event: { opId: ctx.opId, seq: 1, time: new Date(), body: { $case: 'accepted', value: { opId: ctx.opId, kind: 1, target: req.name, targetId: '' } } } });
        if (req.name === 'fail') throw new FailedPreconditionError('NO_IMAGE', 'image missing');
      }),
    } as unknown as grpc.UntypedServiceImplementation);
    await server.listen({ socketPath, mode: 0o600 });
    client = new ServiceClient(vmv1.VmServiceService, socketPath);
  });

  afterAll(async () => {
    client.close();
    await server.shutdown(1000);
    await rm(dir, { recursive: true, force: true });
  });

  const linesFor = (opId: string) => logs.lines.filter((l) => l.op_id === opId);

  it('creates the socket with its mode already set', async () => {
    const st = await stat(socketPath);
    expect(st.isSocket()).toBe(true);
    expect(st.mode & 0o777).toBe(0o600);
  });

  it('answers a unary call and logs exactly one completion line with the adopted op id', async () => {
    const opId = 'op-abcdefghijkl';
    const res = await client.unary('getServerInfo', {}, { opId });
    expect(res.info?.name).toBe('vmd');
    const lines = linesFor(opId);
    expect(lines.filter((l) => l.msg === 'rpc completed')).toHaveLength(1);
    const done = lines.find((l) => l.msg === 'rpc completed');
    expect(done).toMatchObject({ service: 'vmd', method: '/banger.vm.v1.VmService/GetServerInfo', code: 'OK', level: 'info' });
    expect(typeof done?.duration_ms).toBe('number');
    expect(Date.parse(done?.time ?? '')).not.toBeNaN();
  });

  it('returns a typed error with code, reason and op id, and the message ends with the id', async () => {
    const err = await client.unary('getVm', { ref: 'nope', includeSecrets: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RpcError);
    const rpc = err as RpcError;
    expect(rpc.code).toBe(grpc.status.NOT_FOUND);
    expect(rpc.reason).toBe('NOT_FOUND');
    expect(rpc.opId).toMatch(OP_ID_PATTERN);
    expect(rpc.message).toBe(`vm "nope" not found (${rpc.opId})`);
    const lines = linesFor(rpc.opId ?? '');
    expect(lines.map((l) => l.msg)).toEqual(['looking up vm', 'rpc failed']);
    expect(lines[1]).toMatchObject({ code: 'NOT_FOUND', level: 'info' });
  });

  it('keeps the op id in AsyncLocalStorage during the handler', async () => {
    const opId = 'op-zzzzzzzzzzzz';
    const err = (await client.unary('getVm', { ref: 'echo-op', includeSecrets: false }, { opId }).catch((e: unknown) => e)) as RpcError;
    expect(err.details).toBe(opId);
  });

  it('sends INTERNAL from a module error with a plain message, its own text only in the log', async () => {
    const err = (await client.unary('getVm', { ref: 'module-internal', includeSecrets: false }).catch((e: unknown) => e)) as RpcError;
    expect(err.code).toBe(grpc.status.INTERNAL);
    expect(err.reason).toBe('QUERY_FAILED');
    expect(err.details).toBe('internal error');
    expect(err.message).not.toContain('UTF8');
    expect(linesFor(err.opId ?? '').find((l) => l.msg === 'internal error')).toBeTruthy();
  });

  it('bounds an error that echoes a huge input, so the trailers stay far below 8 KiB', async () => {
    const ref = `${'é'.repeat(3000)}\u0000${'x'.repeat(5000)}`;
    const err = (await client.unary('getVm', { ref, includeSecrets: false }).catch((e: unknown) => e)) as RpcError;
    expect(err.code).toBe(grpc.status.NOT_FOUND);
    expect(Buffer.byteLength(err.details)).toBeLessThanOrEqual(512);
    const cause = err.cause as grpc.ServiceError;
    const trailerBytes = Object.entries(cause.metadata.getMap()).reduce((n, [k, v]) => n + k.length + (Buffer.isBuffer(v) ? Math.ceil(v.length / 3) * 4 : Buffer.byteLength(encodeURIComponent(v))), 0);
    expect(trailerBytes + Buffer.byteLength(encodeURIComponent(err.details))).toBeLessThan(4096);
    expect(Buffer.byteLength(err.errorMetadata['ref'] ?? '')).toBeLessThanOrEqual(128);
  });

  it('replaces a malformed inbound op id', async () => {
    const md = new grpc.Metadata();
    md.set('x-op-id', 'op-NOT-VALID');
    const { trailers } = await rawUnary(socketPath, '/banger.vm.v1.VmService/GetServerInfo', md);
    const sent = trailers.get('x-op-id')[0];
    expect(sent).toMatch(OP_ID_PATTERN);
    expect(sent).not.toBe('op-NOT-VALID');
  });

  it('maps unexpected errors to INTERNAL with a plain message and logs the cause', async () => {
    const err = (await client.unary('listVms', vmv1.ListVmsRequest.fromPartial({})).catch((e: unknown) => e)) as RpcError;
    expect(err.code).toBe(grpc.status.INTERNAL);
    expect(err.details).toBe('internal error');
    expect(err.message).not.toContain('password');
    const lines = linesFor(err.opId ?? '');
    expect(lines.find((l) => l.msg === 'unexpected error')).toBeTruthy();
    expect(lines.filter((l) => l.msg === 'rpc failed')).toHaveLength(1);
    expect(lines.find((l) => l.msg === 'rpc failed')).toMatchObject({ level: 'error', code: 'INTERNAL' });
  });

  it('stamps the op id on unknown methods', async () => {
    const { error, trailers } = await rawUnary(socketPath, '/banger.vm.v1.VmService/NoSuchMethod', new grpc.Metadata());
    expect(error?.code).toBe(grpc.status.UNIMPLEMENTED);
    const details = decodeStatusDetails(error?.metadata);
    expect(details?.reason).toBe('UNKNOWN_METHOD');
    expect(details?.metadata['op_id']).toMatch(OP_ID_PATTERN);
    expect(trailers.get('x-op-id')[0]).toBe(details?.metadata['op_id']);
    expect(linesFor(details?.metadata['op_id'] ?? '').filter((l) => l.msg === 'rpc failed')).toHaveLength(1);
  });

  it('refuses an incompatible API major with BAD_VERSION and an op id; accepts a missing header', async () => {
    const md = new grpc.Metadata();
    md.set('x-banger-api-version', '2.0');
    const { error } = await rawUnary(socketPath, '/banger.vm.v1.VmService/GetServerInfo', md);
    expect(error?.code).toBe(grpc.status.FAILED_PRECONDITION);
    const details = decodeStatusDetails(error?.metadata);
    expect(details?.reason).toBe('BAD_VERSION');
    expect(details?.metadata['op_id']).toMatch(OP_ID_PATTERN);
    const ok = await rawUnary(socketPath, '/banger.vm.v1.VmService/GetServerInfo', new grpc.Metadata());
    expect(ok.error).toBeNull();
  });

  it('streams events, returns the op id in headers, and fails with a typed error', async () => {
    const stream = client.serverStream('createVm', vmv1.CreateVmRequest.fromPartial({ name: 'fail' }));
    const events: vmv1.CreateVmResponse[] = [];
    const err = await (async () => {
      for await (const ev of stream) events.push(ev);
    })().catch((e: unknown) => e);
    const opId = await stream.opId;
    expect(events[0]?.event?.opId).toBe(opId);
    expect(err).toBeInstanceOf(RpcError);
    expect((err as RpcError).reason).toBe('NO_IMAGE');
    expect((err as RpcError).opId).toBe(opId);
    expect(linesFor(opId ?? '').filter((l) => l.msg === 'rpc failed')).toHaveLength(1);
  });

  it('refuses callers the authorize hook rejects, identified by SO_PEERCRED', async () => {
    deniedUid = process.getuid?.();
    try {
      const err = (await client.unary('getServerInfo', {}).catch((e: unknown) => e)) as RpcError;
      expect(err.code).toBe(grpc.status.PERMISSION_DENIED);
      expect(err.reason).toBe('UID_NOT_ALLOWED');
      expect(err.opId).toMatch(OP_ID_PATTERN);
    } finally {
      deniedUid = undefined;
    }
  });

  it('refuses to start on a socket another process is serving, and replaces a stale one', async () => {
    const other = new BangerServer({ logger: createLogger({ service: 't', destination: capture().stream }), serviceNames: [], descriptorSetPath });
    await expect(other.listen({ socketPath, mode: 0o600 })).rejects.toMatchObject({ reason: 'ADDRESS_IN_USE' });
    const stalePath = join(dir, 'stale.sock');
    const dead = createServer();
    await new Promise<void>((r) => dead.listen(stalePath, r));
    // Simulate a crash: close the listener without unlinking the path.
    (dead as unknown as { _handle: { close(): void } })._handle.close();
    await other.listen({ socketPath: stalePath, mode: 0o600 });
    expect((await stat(stalePath)).isSocket()).toBe(true);
    await other.shutdown(500);
    const filePath = join(dir, 'regular');
    await writeFile(filePath, 'x');
    const third = new BangerServer({ logger: createLogger({ service: 't', destination: capture().stream }), serviceNames: [], descriptorSetPath });
    await expect(third.listen({ socketPath: filePath, mode: 0o600 })).rejects.toMatchObject({ reason: 'SOCKET_PATH_OCCUPIED' });
  });
});

function rawUnary(socketPath: string, path: string, md: grpc.Metadata): Promise<{ error: grpc.ServiceError | null; trailers: grpc.Metadata }> {
  const c = new grpc.Client(`unix://${socketPath}`, grpc.credentials.createInsecure());
  return new Promise((resolve) => {
    let error: grpc.ServiceError | null = null;
    const call = c.makeUnaryRequest(path, (b: Buffer) => b, (b: Buffer) => b, Buffer.alloc(0), md, (err) => {
      error = err;
    });
    call.on('status', (s: grpc.StatusObject) => {
      c.close();
      resolve({ error, trailers: s.metadata });
    });
  });
}
