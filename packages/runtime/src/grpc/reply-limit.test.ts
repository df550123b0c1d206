import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type * as grpc from '@grpc/grpc-js';
import { descriptorSetPath, vmv1 } from '@banger/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../logging.js';
import { ServiceClient } from './client.js';
import { unary } from './handlers.js';
import { MAX_REPLY_BYTES } from './reply-limit.js';
import { BangerServer } from './server.js';

const run = promisify(execFile);
const PYTHON = '/usr/bin/python3';
const PY_CHECK = resolve(__dirname, '../../../../clients/python/tests/reply_limit_check.py');
/** The stdout that makes the encoded reply exactly MAX_REPLY_BYTES long: its tag and length take 5 bytes, a 1-byte stderr 3. */
const STDOUT_AT_LIMIT = MAX_REPLY_BYTES - 5 - 3;

/**
 * A reply as large as a daemon may send reaches every banger client: grpc's default 4 MiB
 * receive limit would refuse it with RESOURCE_EXHAUSTED on the client side.
 */
describe('replies up to MAX_REPLY_BYTES', () => {
  let dir: string;
  let socketPath: string;
  let server: BangerServer;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'banger-limit-'));
    socketPath = join(dir, 'vmd.sock');
    server = new BangerServer({ logger: createLogger({ service: 'vmd', level: 'silent' }), serviceNames: ['banger.vm.v1.VmService'], descriptorSetPath });
    server.addService(vmv1.VmServiceService, {
      execVm: unary(async (req: vmv1.ExecVmRequest) => ({ stdout: Buffer.alloc(STDOUT_AT_LIMIT + (req.ref === 'over' ? 1 : 0), 0x61), stderr: Buffer.from('e'), stdoutTruncated: false, stderrTruncated: false })),
    } as unknown as grpc.UntypedServiceImplementation);
    await server.listen({ socketPath, mode: 0o600 });
  });

  afterAll(async () => {
    await server.shutdown(1000);
    await rm(dir, { recursive: true, force: true });
  });

  it('the test reply is exactly at the limit', () => {
    const r = vmv1.ExecVmResponse.fromPartial({ stdout: Buffer.alloc(STDOUT_AT_LIMIT), stderr: Buffer.from('e') });
    expect(vmv1.ExecVmResponse.encode(r).finish().length).toBe(MAX_REPLY_BYTES);
  });

  it('reaches a ServiceClient (CLI, @banger/client, MCP) with its default options', async () => {
    const client = new ServiceClient(vmv1.VmServiceService, socketPath);
    try {
      const res = await client.unary('execVm', vmv1.ExecVmRequest.fromPartial({ ref: 'big' }), { timeoutMs: 30_000 });
      expect(res.stdout.length).toBe(STDOUT_AT_LIMIT);
      // One byte more is past what clients take (vmd refuses such a reply itself: exec-reply.ts).
      await expect(client.unary('execVm', vmv1.ExecVmRequest.fromPartial({ ref: 'over' }), { timeoutMs: 30_000 })).rejects.toMatchObject({ code: 8 });
      // grpc's own default would have refused the reply at the limit:
      const small = new ServiceClient(vmv1.VmServiceService, socketPath, { channel: { 'grpc.max_receive_message_length': 4 << 20 } });
      await expect(small.unary('execVm', vmv1.ExecVmRequest.fromPartial({ ref: 'big' }), { timeoutMs: 30_000 })).rejects.toMatchObject({ code: 8 });
      small.close();
    } finally {
      client.close();
    }
  });

  it('reaches the Python client', async (t) => {
    const probe = await run(PYTHON, ['-c', 'import grpc, google.protobuf']).catch((e: unknown) => e);
    if (probe instanceof Error) t.skip(`${PYTHON} cannot import grpc/protobuf`);
    const { stdout } = await run(PYTHON, [PY_CHECK, socketPath], { timeout: 60_000, maxBuffer: 1 << 20 });
    expect(JSON.parse(stdout)).toEqual({ stdout: STDOUT_AT_LIMIT, stderr: 1 });
  }, 60_000);
});
