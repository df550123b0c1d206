import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import { descriptorSetPath, vmv1 } from '@banger/api';
import { BangerServer, createLogger, implementService, unary } from '@banger/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../cli.js';
import { captureIo } from '../test-support.js';

describe('banger completion and __complete against a real socket', () => {
  let dir: string;
  let server: BangerServer;
  let env: Record<string, string>;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'banger-complete-'));
    const logger = createLogger({ service: 'vmd', level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) });
    server = new BangerServer({ logger, serviceNames: ['banger.vm.v1.VmService'], descriptorSetPath });
    const impl = implementService(vmv1.VmServiceService, 'banger.vm.v1.VmService', {
      listVms: unary(async () => ({ vms: [vmv1.Vm.fromPartial({ id: 'b', name: 'web' }), vmv1.Vm.fromPartial({ id: 'a', name: 'dev' })] })),
    });
    server.addService(vmv1.VmServiceService, impl as UntypedServiceImplementation);
    await server.listen({ socketPath: join(dir, 'vmd.sock'), mode: 0o600 });
    env = { BANGER_VMD_SOCKET: join(dir, 'vmd.sock') };
  });

  afterAll(async () => {
    await server.shutdown(1000);
    await rm(dir, { recursive: true, force: true });
  });

  it('__complete vms prints VM names one per line, sorted', async () => {
    const io = captureIo(env);
    expect(await run(['__complete', 'vms'], io)).toBe(0);
    expect(io.stdout.text).toBe('dev\nweb\n');
  });

  it('__complete vms --json and unknown kinds', async () => {
    const io = captureIo(env);
    expect(await run(['__complete', 'vms', '--json'], io)).toBe(0);
    expect(JSON.parse(io.stdout.text)).toEqual({ vms: ['dev', 'web'] });
    const bad = captureIo(env);
    expect(await run(['__complete', 'images'], bad)).toBe(2);
    expect(bad.stderr.text).toContain('unknown completion kind "images"');
  });

  it('is hidden from help, while completion is listed', async () => {
    const io = captureIo(env);
    expect(await run(['help'], io)).toBe(0);
    expect(io.stdout.text).not.toContain('__complete');
    expect(io.stdout.text).toContain('completion');
  });

  it('completion prints a script, or JSON with --json; an unknown shell is a usage error', async () => {
    const io = captureIo(env);
    expect(await run(['completion', 'bash'], io)).toBe(0);
    expect(io.stdout.text).toContain('complete -F _banger banger');
    const json = captureIo(env);
    expect(await run(['completion', 'fish', '--json'], json)).toBe(0);
    expect(JSON.parse(json.stdout.text)).toMatchObject({ shell: 'fish', script: expect.stringContaining('complete -c banger') });
    const bad = captureIo(env);
    expect(await run(['completion', 'tcsh'], bad)).toBe(2);
    expect(bad.stderr.text).toContain('unknown shell "tcsh"');
  });
});
