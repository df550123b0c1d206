import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Writable } from 'node:stream';
import type * as grpc from '@grpc/grpc-js';
import { descriptorSetPath, vmv1 } from '@banger/api';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger, setRootLogger } from '../logging.js';
import { ServiceClient } from './client.js';
import { unary } from './handlers.js';
import { BangerServer } from './server.js';

/**
 * A daemon back after an outage is reachable again within about a second, however long it was
 * down: grpc-js's default backoff grows to 120 s, and the janitor could not reach a privhelper
 * that had been back for seconds (found by integration/faults/load).
 */
describe('a client of a daemon that was down a while', () => {
  let dir = '';
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  it('reaches it within about a second of it listening again', async () => {
    dir = await mkdtemp(join(tmpdir(), 'banger-reconnect-'));
    const logger = createLogger({ service: 'vmd', level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) });
    setRootLogger(logger);
    const socketPath = join(dir, 'vmd.sock');
    const client = new ServiceClient(vmv1.VmServiceService, socketPath, { peer: 'vmd' });
    // Down for 6 s of calls: grpc-js's own backoff would be past 4 s by now.
    const downUntil = Date.now() + 6000;
    while (Date.now() < downUntil) {
      await client.unary('getServerInfo', {}, { timeoutMs: 1000 }).catch(() => undefined);
      await sleep(100);
    }
    const server = new BangerServer({ logger, serviceNames: ['banger.vm.v1.VmService'], descriptorSetPath });
    server.addService(vmv1.VmServiceService, { getServerInfo: unary(async () => ({})) } as unknown as grpc.UntypedServiceImplementation);
    await server.listen({ socketPath, mode: 0o600 });
    const back = Date.now();
    let answered = false;
    while (!answered && Date.now() - back < 10_000) {
      answered = await client.unary('getServerInfo', {}, { timeoutMs: 1000 }).then(() => true, () => false);
      if (!answered) await sleep(50);
    }
    const ms = Date.now() - back;
    client.close();
    await server.shutdown(1000);
    expect(answered).toBe(true);
    expect(ms).toBeLessThan(1500);
  }, 30_000);
});
