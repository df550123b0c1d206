import { TarParser, type TarEntry } from '@banger/runtime/tar';
import { describe, expect, it } from 'vitest';
import { validateCreate } from '../domain/create-request.js';
import { vmdHarness } from '../testing/harness.js';

async function entriesOf(archive: Buffer): Promise<{ entries: TarEntry[]; data: string }> {
  const entries: TarEntry[] = [];
  let data = '';
  const p = new TarParser({ entry: (e) => void entries.push(e), data: (c) => void (data += c.toString()) });
  await p.push(archive);
  p.finish();
  return { entries, data };
}

describe('sync files on create', () => {
  it('writes each file through the upload path after the agent answers and before services are awaited, parents made first', async () => {
    const h = vmdHarness();
    const syncFiles = [{ guestPath: '/root/.config/tool/auth.json', mode: 0o600, data: Buffer.from('{"k":1}') }];
    const { op, error } = await h.create({ name: 'dev', syncFiles });
    expect(error).toBeUndefined();
    const stages = op.events.flatMap((e) => (e.type === 'stage_finished' ? [e.stage] : []));
    expect(stages.slice(stages.indexOf('agent'))).toEqual(['agent', 'files', 'services']);
    expect(h.agent.execs.find((e) => e.argv[0] === 'mkdir')?.argv).toEqual(['mkdir', '-p', '--', '/root/.config/tool']);
    expect(h.files.uploads).toHaveLength(1);
    expect(h.files.uploads[0]?.spec).toEqual({ destPath: '/root/.config/tool/auth.json', mustBeDir: false, name: 'auth.json' });
    const { entries, data } = await entriesOf(h.files.uploads[0]?.bytes ?? Buffer.alloc(0));
    expect(entries.map((e) => [e.path, e.kind, e.mode, e.uid, e.gid])).toEqual([['auth.json', 'file', 0o600, 0, 0]]);
    expect(data).toBe('{"k":1}');
  });

  it('has no files stage without sync files', async () => {
    const h = vmdHarness();
    const { op } = await h.create({ name: 'dev' });
    expect(op.events.some((e) => e.type === 'stage_finished' && e.stage === 'files')).toBe(false);
  });

  it('rolls the create back when a file cannot be written', async () => {
    const h = vmdHarness();
    h.files.failWith = Object.assign(new Error('guest disk full'), {});
    const { error } = await h.create({ name: 'dev', syncFiles: [{ guestPath: '/root/a', mode: 0o644, data: Buffer.from('a') }] });
    expect(error).toBeDefined();
    expect(h.rows.rows.size).toBe(0);
  });

  const bounds = { memoryMib: { min: 1, default: 1, max: 1 }, vcpus: { min: 1, default: 1, max: 1 }, workDiskGib: { min: 1, default: 1, max: 1 } };
  const input = { name: 'dev', image: '', kernel: '', memoryMib: 0, vcpus: 0, workDiskBytes: 0, noWait: false, sshAuthorizedKeys: [], hypervisor: 'qemu' };
  it.each([
    [[{ guestPath: 'rel/path', mode: 0o644, data: Buffer.alloc(1) }], 'BAD_GUEST_PATH'],
    [[{ guestPath: '/', mode: 0o644, data: Buffer.alloc(1) }], 'BAD_GUEST_PATH'],
    [[{ guestPath: '/a', mode: 0o10000, data: Buffer.alloc(1) }], 'BAD_MODE'],
    [[{ guestPath: '/a', mode: 0o644, data: Buffer.alloc(1) }, { guestPath: '/b/../a', mode: 0o644, data: Buffer.alloc(1) }], 'DUPLICATE_SYNC_FILE'],
    [[{ guestPath: '/a', mode: 0o644, data: Buffer.alloc(4 << 20) }], 'SYNC_FILES_TOO_LARGE'],
  ])('refuses bad sync files before anything is created (%#)', (syncFiles, reason) => {
    expect(() => validateCreate({ ...input, syncFiles }, bounds, 'debian')).toThrow(expect.objectContaining({ reason }) as Error);
  });
});
