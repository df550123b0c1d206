import { migrate, vmdSchema, VmStore, type Db } from '@banger/store';
import { pgliteFixture, silentLogger, type StoreFixture } from '@banger/store/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sampleVm } from '../testing/sample-vm.js';
import { PgVmRepo } from './vm-repo.js';

function newVm(id: string, name: string, ipv4: string) {
  const { pid: _p, createdAt: _c, updatedAt: _u, startedAt: _s, stoppedAt: _t, lastUsedAt: _l, ...rest } = sampleVm({ id, name, state: 'creating', network: { ipv4, mac: null, tap: null } });
  return rest;
}

describe('PgVmRepo over the real store (embedded PostgreSQL)', () => {
  let fixture: StoreFixture;
  let db: Db;
  let repo: PgVmRepo;

  beforeAll(async () => {
    fixture = pgliteFixture();
    db = await fixture.open();
    await migrate(db, vmdSchema, silentLogger);
    repo = new PgVmRepo(db);
  });

  afterAll(async () => {
    await db.close();
    await fixture.dispose();
  });

  it('keeps every field of the domain VM through a round trip', async () => {
    const vm = newVm('aaaa000000000001', 'round', '10.0.0.2');
    const stored = await repo.insert({ ...vm, credentials: [{ service: 'opencode', username: 'opencode', password: 'pw' }], spec: { ...vm.spec, sshAuthorizedKeys: ['ssh-ed25519 AAAA x'] } });
    const back = await repo.getById(vm.id);
    expect(back).toEqual(stored);
    expect(back).toMatchObject({ name: 'round', state: 'creating', spec: { kernel: { name: 'debian-bookworm-cloud' }, sshAuthorizedKeys: ['ssh-ed25519 AAAA x'], boot: { kernelArgs: ['quiet'] } }, credentials: [{ password: 'pw' }] });
    expect(back.createdAt).toBeInstanceOf(Date);
  });

  it('keeps the egress policy, and a patch replaces it (rows from before migration 3 read as allow)', async () => {
    const list = { mode: 'list' as const, cidrs: ['10.1.0.0/16'], hostnames: ['api.example.com'] };
    const vm = await repo.insert({ ...newVm('aaaa000000000009', 'fenced', '10.0.0.9'), egress: list });
    expect((await repo.getById(vm.id)).egress).toEqual(list);
    expect((await repo.update(vm.id, { egress: { mode: 'deny', cidrs: [], hostnames: [] } })).egress).toEqual({ mode: 'deny', cidrs: [], hostnames: [] });
    await new VmStore(db).insert({ id: 'aaaa00000000000a', name: 'older', state: 'stopped', imageId: 'i', vcpus: 1, memoryMib: 512, workDiskGib: 1, ipv4: '10.0.0.10' });
    expect((await repo.getById('aaaa00000000000a')).egress).toEqual({ mode: 'allow', cidrs: [], hostnames: [] });
  });

  it('moves a VM only along the state machine, refusing in the write itself', async () => {
    await repo.insert(newVm('aaaa000000000002', 'moving', '10.0.0.3'));
    await expect(repo.transition('aaaa000000000002', 'starting')).rejects.toMatchObject({ code: 'FAILED_PRECONDITION', reason: 'VM_STATE_CHANGED' });
    const running = await repo.transition('aaaa000000000002', 'running', { pid: 42, startedAt: new Date() });
    expect(running).toMatchObject({ state: 'running', pid: 42 });
    expect((await repo.transition('aaaa000000000002', 'stopped', { pid: null })).state).toBe('stopped');
  });

  it('reads a row written by an older vmd (no kernel, keys or hypervisor in its spec)', async () => {
    await new VmStore(db).insert({
      id: 'aaaa000000000003',
      name: 'old',
      state: 'stopped',
      imageId: 'img-old',
      vcpus: 1,
      memoryMib: 512,
      workDiskGib: 4,
      spec: { imageName: 'debian', kernelPath: '/k', initrdPath: '/i', initPath: '/sbin/init', services: [{ name: 'opencode', port: 4096, readiness: 'tcp', timeoutSeconds: 180, secretEnv: 'X' }] },
      runtime: { rootDisk: '/r', workDisk: '/w' },
      ipv4: '10.0.0.4',
    });
    const vm = await repo.findByRef('old');
    expect(vm.spec).toMatchObject({ image: { id: 'img-old', name: 'debian' }, kernel: { name: '', version: '' }, boot: { kernelPath: '/k', kernelArgs: [] }, workDiskBytes: 4 * 1024 ** 3, sshAuthorizedKeys: [], hypervisor: 'qemu' });
    expect(vm.files).toEqual({ rootDisk: '/r', workDisk: '/w', agentSocket: '', consoleLog: '' });
  });

  it('lists by image name or id, and deletes idempotently', async () => {
    expect((await repo.list({ image: 'debian' })).map((v) => v.name)).toEqual(['old']);
    expect((await repo.list({ image: 'img-old' })).map((v) => v.name)).toEqual(['old']);
    expect(await repo.delete('aaaa000000000003')).toBe(true);
    expect(await repo.delete('aaaa000000000003')).toBe(false);
    expect(await repo.findByName('old')).toBeUndefined();
  });
});
