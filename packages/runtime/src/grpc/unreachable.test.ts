import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type * as grpc from '@grpc/grpc-js';
import { descriptorSetPath, helperv2, vmv1 } from '@banger/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toBangerError, UnavailableError } from '../errors.js';
import { createLogger, setRootLogger } from '../logging.js';
import { RpcError, ServiceClient } from './client.js';
import { unary } from './handlers.js';
import { BangerServer } from './server.js';

/** Who failed: a client's own unreachable peer versus a daemon that answered UNAVAILABLE. */
describe('a downstream daemon that cannot be reached', () => {
  let dir: string;
  let server: BangerServer;
  let dropper: Server;
  let vmd: ServiceClient<typeof vmv1.VmServiceService>;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'banger-unreach-'));
    const logger = createLogger({ service: 'vmd', level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) });
    setRootLogger(logger);
    // Accepts each connection and drops it at once, like a daemon SIGKILLed mid-call.
    dropper = createServer((sock) => sock.destroy());
    await new Promise<void>((resolve) => dropper.listen(join(dir, 'dropper.sock'), resolve));
    server = new BangerServer({ logger, serviceNames: ['banger.vm.v1.VmService'], descriptorSetPath });
    server.addService(vmv1.VmServiceService, {
      getVm: unary(async (req: vmv1.GetVmRequest) => {
        if (req.ref === 'db-down') throw new UnavailableError('DATABASE_UNAVAILABLE', 'database unavailable: connection refused');
        const helper = new ServiceClient(helperv2.HelperServiceService, join(dir, req.ref === 'dropped' ? 'dropper.sock' : 'none.sock'), { peer: 'privhelper' });
        try {
          await helper.unary('probeHost', { deep: false }, { timeoutMs: 5000 });
          return {};
        } finally {
          helper.close();
        }
      }),
    } as unknown as grpc.UntypedServiceImplementation);
    await server.listen({ socketPath: join(dir, 'vmd.sock'), mode: 0o600 });
    vmd = new ServiceClient(vmv1.VmServiceService, join(dir, 'vmd.sock'), { peer: 'vmd' });
  });

  afterAll(async () => {
    vmd.close();
    await server.shutdown(1000);
    dropper.close();
    await rm(dir, { recursive: true, force: true });
  });

  const fail = async (client: ServiceClient<typeof vmv1.VmServiceService>, ref: string): Promise<RpcError> => {
    const err = await client.unary('getVm', { ref, includeSecrets: false }, { timeoutMs: 10_000 }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(RpcError);
    return err as RpcError;
  };

  it('marks a call to a socket nobody serves as unreachable, naming the peer', async () => {
    const lost = new ServiceClient(vmv1.VmServiceService, join(dir, 'gone.sock'), { peer: 'vmd' });
    const err = await fail(lost, 'x');
    lost.close();
    expect(err).toMatchObject({ codeName: 'UNAVAILABLE', unreachable: true, peer: 'vmd' });
    expect(toBangerError(err)).toMatchObject({ code: 'UNAVAILABLE', reason: 'VMD_UNAVAILABLE', fields: { daemon: 'vmd' } });
  });

  it('passes a downstream daemon that is not there on as HELPER_UNAVAILABLE from a daemon that answered', async () => {
    const err = await fail(vmd, 'missing');
    expect(err).toMatchObject({ codeName: 'UNAVAILABLE', reason: 'HELPER_UNAVAILABLE', unreachable: false, peer: 'vmd' });
    expect(err.errorMetadata).toEqual({ daemon: 'privhelper' });
    expect(err.details).toMatch(/^privhelper is unavailable: /);
  });

  it('says the same when the downstream connection drops mid-call', async () => {
    const err = await fail(vmd, 'dropped');
    expect(err).toMatchObject({ codeName: 'UNAVAILABLE', reason: 'HELPER_UNAVAILABLE', unreachable: false });
    expect(err.errorMetadata['daemon']).toBe('privhelper');
  });

  it('keeps a daemon\'s own UNAVAILABLE reason: the daemon answered, so it is not unreachable', async () => {
    const err = await fail(vmd, 'db-down');
    expect(err).toMatchObject({ codeName: 'UNAVAILABLE', reason: 'DATABASE_UNAVAILABLE', unreachable: false });
    expect(toBangerError(err).reason).toBe('DATABASE_UNAVAILABLE');
  });
});
