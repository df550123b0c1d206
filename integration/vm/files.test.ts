import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, chown, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { imagev1, vmv1 } from '@banger/api';
import { RpcError } from '@banger/runtime';
import { padding, tarHeaders, TAR_END } from '@banger/runtime/tar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, runCli } from '../harness/daemons.js';
import { collect, createVmStack, qemuPidsFor, vmUnsupportedReason, type VmStack } from './vmstack.js';

const skip = vmUnsupportedReason();
if (skip) console.warn(`integration/vm/files skipped: ${skip}`);

/**
 * The large file each way: 16 MB in CI (more than grpc's 4 MiB message and the 1 MiB chunks, so
 * the streaming shows), BANGER_FILES_BIG_MB for more. The 200 MB rates are bench/files.ts's job.
 */
const BIG_MB = Number(process.env['BANGER_FILES_BIG_MB'] ?? 16);

async function sha256(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(path)) h.update(c as Buffer);
  return h.digest('hex');
}

function member(name: string, type: string, data = Buffer.alloc(0), linkname = ''): Buffer {
  return Buffer.concat([tarHeaders({ name, type, mode: 0o644, uid: 0, gid: 0, size: data.length, mtime: 1_700_000_000, linkname }), data, Buffer.alloc(padding(data.length))]);
}

describe.skipIf(skip !== undefined)('vm cp, file_sync and vm run against a real guest', () => {
  let s: VmStack;
  let work = '';

  const sh = async (script: string, timeoutMs = 120_000): Promise<{ code: number; out: string; err: string }> => {
    const res = await s.vmd.unary('execVm', vmv1.ExecVmRequest.fromPartial({ ref: 'files', command: { argv: ['sh', '-c', script] } }), { timeoutMs });
    return { code: res.status?.exitCode ?? -1, out: Buffer.from(res.stdout).toString(), err: Buffer.from(res.stderr).toString() };
  };
  const cli = (args: string[], timeoutMs = 300_000) => runCli(s.stack, args, timeoutMs);
  const upload = async (dest: string, name: string, archive: Buffer): Promise<unknown> => {
    const call = s.vmd.clientStream('uploadFiles', { timeoutMs: 120_000 });
    call.write({ msg: { $case: 'target', value: { ref: 'files', destPath: dest, name } } });
    call.write({ msg: { $case: 'data', value: archive } });
    call.end();
    return call.response.catch((e: unknown) => e);
  };

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'banger-files-'));
    s = await createVmStack();
    const build = s.images.serverStream('buildImage', imagev1.BuildImageRequest.fromPartial({ recipe: 'debian-bookworm' }), { timeoutMs: 1_800_000 });
    const built = await collect(build);
    if (built.error instanceof Error) throw built.error;
    const created = await collect(s.vmd.serverStream('createVm', vmv1.CreateVmRequest.fromPartial({ name: 'files', noWait: true }), { timeoutMs: 900_000 }));
    if (created.error instanceof Error) throw created.error;
  }, 2_700_000);

  afterAll(async () => {
    await s?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('copies a tree in and back out with modes, numeric owners and symlinks kept', async () => {
    const tree = join(work, 'tree');
    await mkdir(join(tree, 'sub', 'deeper'), { recursive: true });
    const long = `${'l'.repeat(140)}.txt`;
    await writeFile(join(tree, 'sub', 'deeper', long), 'long name\n');
    await writeFile(join(tree, 'run.sh'), '#!/bin/sh\necho hi\n');
    await chmod(join(tree, 'run.sh'), 0o750);
    await writeFile(join(tree, 'secret'), 'shh\n');
    await chmod(join(tree, 'secret'), 0o600);
    await chown(join(tree, 'secret'), 1234, 2345);
    await chmod(join(tree, 'sub'), 0o711);
    await symlink('sub/deeper', join(tree, 'link'));

    const into = await cli(['vm', 'cp', '--json', tree, 'files:/root/']);
    expect(into.stderr).toBe('');
    expect(into.code).toBe(0);
    expect(JSON.parse(into.stdout)).toMatchObject({ direction: 'in', destination: '/root/tree' });
    const seen = await sh(`cd /root/tree && stat -c '%n %a %u %g' run.sh secret sub && readlink link && cat sub/deeper/${long}`);
    expect(seen.out).toBe(`run.sh 750 0 0\nsecret 600 1234 2345\nsub 711 0 0\nsub/deeper\nlong name\n`);
    // Nothing of the copy's scaffolding stays beside the destination.
    expect((await sh('ls -A /root | grep banger-cp || true')).out).toBe('');

    const out = join(work, 'back');
    const back = await cli(['vm', 'cp', '--json', 'files:/root/tree', out]);
    expect(back.code).toBe(0);
    expect(JSON.parse(back.stdout)).toMatchObject({ direction: 'out', destination: out });
    expect((await lstat(join(out, 'run.sh'))).mode & 0o7777).toBe(0o750);
    const secret = await lstat(join(out, 'secret'));
    expect([secret.mode & 0o7777, secret.uid, secret.gid]).toEqual([0o600, 1234, 2345]);
    expect((await lstat(join(out, 'sub'))).mode & 0o7777).toBe(0o711);
    expect(await readlink(join(out, 'link'))).toBe('sub/deeper');
    expect(await readFile(join(out, 'sub', 'deeper', long), 'utf8')).toBe('long name\n');
    expect((await readdir(work)).filter((n) => n.startsWith('.banger-cp'))).toEqual([]);
  }, 300_000);

  it('measures the guest agent channel (base64 in JSON) for comparison', async () => {
    const data = randomBytes(256 << 10);
    const t0 = Date.now();
    const write = await s.vmd.unary('execVm', vmv1.ExecVmRequest.fromPartial({ ref: 'files', command: { argv: ['sh', '-c', 'cat > /tmp/qga.bin; wc -c < /tmp/qga.bin'], stdin: data } }), { timeoutMs: 300_000 });
    const upS = (Date.now() - t0) / 1000;
    expect(Buffer.from(write.stdout).toString().trim()).toBe(String(data.length));
    const t1 = Date.now();
    const read = await s.vmd.unary('execVm', vmv1.ExecVmRequest.fromPartial({ ref: 'files', command: { argv: ['head', '-c', String(3 << 20), '/dev/zero'] }, maxOutputBytes: 3 << 20 }), { timeoutMs: 300_000 });
    const downS = (Date.now() - t1) / 1000;
    // ExecVm reads output for at most 5 s after the command ended: under load it may keep less
    // than all of it (and says so). The rate is what arrived, in the time it took.
    const got = read.stdout.length;
    expect(got).toBeGreaterThan(0);
    expect(read.stdoutTruncated).toBe(got < 3 << 20);
    expect(Buffer.from(read.stdout).every((b) => b === 0)).toBe(true);
    console.log(`[files] guest agent: ${(0.25 / upS).toFixed(2)} MiB/s in (guest-exec input-data, 256 KiB), ${(got / (1 << 20) / downS).toFixed(2)} MiB/s out (guest-file-read, ${(got / (1 << 20)).toFixed(1)} of 3 MiB)`);
  }, 700_000);

  it('refuses a missing source on either side, naming it, and leaves nothing behind', async () => {
    const missingHost = await cli(['vm', 'cp', join(work, 'nope'), 'files:/root/']);
    expect(missingHost.code).toBe(3);
    expect(missingHost.stderr).toContain(`${join(work, 'nope')}: no such file or directory`);
    const missingGuest = await cli(['vm', 'cp', '--json', 'files:/root/nope', join(work, 'got')]);
    expect(missingGuest.code).toBe(3);
    expect(JSON.parse(missingGuest.stderr)).toMatchObject({ error: { reason: 'GUEST_PATH_NOT_FOUND', fields: { path: '/root/nope' } } });
    expect((await readdir(work)).filter((n) => n === 'got' || n.startsWith('.banger-cp'))).toEqual([]);
  }, 120_000);

  it('refuses a destination that is not a directory, and one whose parent is missing', async () => {
    await writeFile(join(work, 'one'), '1');
    const notDir = await cli(['vm', 'cp', '--json', join(work, 'one'), 'files:/etc/hostname/']);
    expect(notDir.code).toBe(5);
    expect(JSON.parse(notDir.stderr)).toMatchObject({ error: { reason: 'GUEST_NOT_A_DIRECTORY' } });
    const underFile = await cli(['vm', 'cp', '--json', join(work, 'one'), 'files:/etc/hostname/x']);
    expect(JSON.parse(underFile.stderr)).toMatchObject({ error: { reason: 'GUEST_NOT_A_DIRECTORY', message: expect.stringContaining('/etc/hostname') as string } });
    const noParent = await cli(['vm', 'cp', '--json', join(work, 'one'), 'files:/no/such/dir/x']);
    expect(noParent.code).toBe(3);
    expect(JSON.parse(noParent.stderr)).toMatchObject({ error: { message: expect.stringContaining('/no/such/dir') as string } });
    expect((await sh('ls -A /etc | grep banger-cp || true')).out).toBe('');
  }, 120_000);

  it('refuses archive entries that escape through .. or a symlink, before they reach the guest, leaving nothing', async () => {
    const dotdot = await upload('/root', 'x', Buffer.concat([member('x', '5'), member('x/../../etc/evil', '0', Buffer.from('no'))]));
    expect(dotdot).toBeInstanceOf(RpcError);
    expect(dotdot).toMatchObject({ reason: 'TAR_ENTRY_ESCAPES', message: expect.stringContaining('x/../../etc/evil') as string });
    const viaLink = await upload('/root', 'y', Buffer.concat([member('y', '5'), member('y/l', '2', Buffer.alloc(0), '/etc'), member('y/l/evil', '0', Buffer.from('no')), TAR_END]));
    expect(viaLink).toMatchObject({ reason: 'TAR_ENTRY_ESCAPES', message: expect.stringContaining('goes through the symlink "y/l"') as string });
    const cut = await upload('/root', 'z', member('z', '0', Buffer.alloc(5000, 1)).subarray(0, 3000));
    expect(cut).toMatchObject({ reason: 'TAR_TRUNCATED' });
    const left = await sh('ls /etc/evil /root/x /root/y /root/z 2>&1; ls -A /root | grep banger-cp || true');
    expect(left.out).not.toMatch(/banger-cp/);
    expect(left.out.match(/No such file/g)?.length).toBe(4);
  }, 180_000);

  it('fails clearly when the guest runs out of space, leaving nothing partial', async () => {
    expect((await sh('mkdir -p /mnt/small && mount -t tmpfs -o size=1m tmpfs /mnt/small')).code).toBe(0);
    const four = join(work, 'four.bin');
    await writeFile(four, randomBytes(4 << 20));
    const full = await cli(['vm', 'cp', '--json', four, 'files:/mnt/small/']);
    expect(full.code, full.stderr).toBe(10);
    expect(JSON.parse(full.stderr)).toMatchObject({ error: { reason: 'GUEST_NO_SPACE' } });
    expect((await sh('ls -A /mnt/small')).out).toBe('');
  }, 120_000);
  it('vm run: [[file_sync]] and --sync land before the command, PATH in /work, live output, its exit status, --rm leaves no VM', async () => {
    const proj = join(work, 'proj');
    await mkdir(proj);
    await writeFile(join(proj, 'hello.txt'), 'hello\n');
    const auth = join(work, 'auth.json');
    await writeFile(auth, '{"token":1}\n');
    const extra = join(work, 'extra.txt');
    await writeFile(extra, 'extra\n');
    await chmod(extra, 0o640);
    const cfg = join(work, 'cli-config.toml');
    await writeFile(cfg, `[[file_sync]]\nhost = "${auth}"\nguest = "/root/.config/tool/auth.json"\nmode = "0600"\n`);
    const script = 'pwd; cat hello.txt; stat -c "%a %u" /root/.config/tool/auth.json /etc/extra.txt; cat /root/.config/tool/auth.json /etc/extra.txt; exit 7';
    const r = await runCli(s.stack, ['vm', 'run', proj, '--rm', '--name', 'runner', '--sync', `${extra}:/etc/extra.txt`, '--', 'sh', '-c', script], 1_200_000, { BANGER_CONFIG: cfg });
    expect(r.code, r.stderr).toBe(7);
    expect(r.stdout).toBe('/work/proj\nhello\n600 0\n640 0\n{"token":1}\nextra\n');
    const list = await s.vmd.unary('listVms', vmv1.ListVmsRequest.fromPartial({}));
    expect(list.vms.map((v) => v.name)).not.toContain('runner');
  }, 1_300_000);

  // Two more creates, booted side by side to cost about one: `-d --json` and a `--rm` run that gets SIGINT mid-command.
  it('vm run: -d --json leaves the VM running with PATH in /work; SIGINT during a --rm run removes its VM, tap and QEMU', async () => {
    const proj = join(work, 'dproj');
    await mkdir(proj);
    await writeFile(join(proj, 'note.txt'), 'detached\n');
    const detached = runCli(s.stack, ['vm', 'run', proj, '-d', '--json', '--name', 'detached', '--no-file-sync'], 1_200_000);
    const child = spawn(process.execPath, [join(REPO_ROOT, 'clients', 'cli', 'bin', 'banger.mjs'), 'vm', 'run', '--rm', '--name', 'sigint', '--no-file-sync', '--', 'sh', '-c', 'echo started; exec sleep 600'], { env: s.stack.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      for (let i = 0; i < 2400 && !out.includes('started'); i++) await sleep(500);
      expect(out, err).toBe('started\n');
      const vm = (await s.vmd.unary('getVm', vmv1.GetVmRequest.fromPartial({ ref: 'sigint' }))).vm;
      const tap = vm?.network?.tap ?? '';
      expect(tap).not.toBe('');
      expect(await s.ns.linkNames()).toContain(tap);
      expect(await qemuPidsFor(vm?.id ?? '')).toHaveLength(1);
      child.kill('SIGINT');
      expect(await exited, err).toBe(130);
      const names = (await s.vmd.unary('listVms', vmv1.ListVmsRequest.fromPartial({}))).vms.map((v) => v.name);
      expect(names).not.toContain('sigint');
      expect(await s.ns.linkNames()).not.toContain(tap);
      // The jail supervisor reaps QEMU right after the delete answered.
      for (let i = 0; i < 50 && (await qemuPidsFor(vm?.id ?? '')).length > 0; i++) await sleep(200);
      expect(await qemuPidsFor(vm?.id ?? '')).toEqual([]);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }

    const d = await detached;
    expect(d.code, d.stderr).toBe(0);
    expect(JSON.parse(d.stdout)).toEqual({ name: 'detached', workdir: '/work/dproj' });
    const got = await s.vmd.unary('getVm', vmv1.GetVmRequest.fromPartial({ ref: 'detached' }));
    expect(got.vm?.state).toBe(vmv1.VmState.VM_STATE_RUNNING);
    const note = await s.vmd.unary('execVm', vmv1.ExecVmRequest.fromPartial({ ref: 'detached', command: { argv: ['cat', '/work/dproj/note.txt'] } }));
    expect(Buffer.from(note.stdout).toString()).toBe('detached\n');
    expect((await cli(['vm', 'delete', '--force', 'detached'])).code).toBe(0);
  }, 1_500_000);

  it('refuses a missing sync file and a run without a command off a terminal, before anything is created', async () => {
    const missing = await cli(['vm', 'create', '--name', 'nosync', '--sync', `${join(work, 'absent')}:/root/x`]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain(`${join(work, 'absent')}: no such file`);
    const noCmd = await cli(['vm', 'run', '--name', 'nocmd']);
    expect(noCmd.code).toBe(2);
    expect(noCmd.stderr).toContain('no command given');
    const detachRm = await cli(['vm', 'run', '-d', '--rm', '--name', 'nocmd']);
    expect([detachRm.code, detachRm.stderr]).toEqual([2, expect.stringContaining('-d and --rm contradict each other')]);
    const detachCmd = await cli(['vm', 'run', '-d', '--name', 'nocmd', '--', 'true']);
    expect([detachCmd.code, detachCmd.stderr]).toEqual([2, expect.stringContaining('-d runs no command')]);
    const list = await s.vmd.unary('listVms', vmv1.ListVmsRequest.fromPartial({}));
    expect(list.vms.map((v) => v.name).filter((n) => n === 'nosync' || n === 'nocmd')).toEqual([]);
  }, 120_000);

  it(`moves a ${BIG_MB} MB file each way and reports the rate`, async () => {
    const big = join(work, 'big.bin');
    const block = randomBytes(1 << 20);
    await writeFile(big, Buffer.concat(Array.from({ length: BIG_MB }, (_, i) => (i % 2 ? block : block.reverse()))));
    const want = await sha256(big);
    const t0 = Date.now();
    const up = await cli(['vm', 'cp', '--json', big, 'files:/root/big.bin'], 600_000);
    const upS = (Date.now() - t0) / 1000;
    expect(up.code, up.stderr).toBe(0);
    expect((await sh('stat -c %s /root/big.bin')).out.trim()).toBe(String(BIG_MB << 20));
    const t1 = Date.now();
    const down = await cli(['vm', 'cp', '--json', 'files:/root/big.bin', join(work, 'big.back')], 600_000);
    const downS = (Date.now() - t1) / 1000;
    expect(down.code, down.stderr).toBe(0);
    expect(await sha256(join(work, 'big.back'))).toBe(want);
    const rate = (j: string) => (JSON.parse(j) as { mb_per_second: number }).mb_per_second;
    console.log(`[files] ${BIG_MB} MB upload: ${upS.toFixed(1)} s wall, ${rate(up.stdout)} MB/s in the copy; download: ${downS.toFixed(1)} s wall, ${rate(down.stdout)} MB/s in the copy`);
    await sh('rm -f /root/big.bin');
  }, 1_500_000);

});
