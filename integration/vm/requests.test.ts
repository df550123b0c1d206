import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { imagev1, vmv1 } from '@banger/api';
import type { RpcError } from '@banger/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collect, createVmStack, vmUnsupportedReason, type VmStack } from './vmstack.js';

const run = promisify(execFile);
const skip = vmUnsupportedReason();
if (skip) console.warn(`integration/vm requests skipped: ${skip}`);

const GENERIC_KERNEL = 'debian-bookworm-generic';

async function exec(s: VmStack, ref: string, command: Partial<vmv1.ExecCommand>): Promise<vmv1.ExecVmResponse> {
  return s.vmd.unary('execVm', vmv1.ExecVmRequest.fromPartial({ ref, command }), { timeoutMs: 120_000 });
}

const text = (b: Uint8Array): string => Buffer.from(b).toString();

/**
 * Every CreateVm and ExecCommand field is honoured on a real guest: the user's own ssh key
 * lets them in, the kernel asked for is the one that boots, exec runs as the user in the
 * directory with the environment and stdin given, a timeout kills and says so, and a stop
 * that had to kill says so.
 */
describe.skipIf(skip !== undefined)('request fields honoured on real guests', () => {
  let s: VmStack;
  let keyDir: string;
  let userPub: string;

  beforeAll(async () => {
    s = await createVmStack();
    const { error } = await collect(s.images.serverStream('buildImage', imagev1.BuildImageRequest.fromPartial({ recipe: 'debian-bookworm' }), { timeoutMs: 1_800_000 }));
    expect(error).toBeUndefined();
    keyDir = await mkdtemp(join(tmpdir(), 'banger-userkey-'));
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'someone@elsewhere', '-f', join(keyDir, 'id')]);
    userPub = (await readFile(join(keyDir, 'id.pub'), 'utf8')).trim();
  }, 1_900_000);

  afterAll(async () => {
    await s?.close();
    if (keyDir) await rm(keyDir, { recursive: true, force: true });
  });

  let keyedIp = '';

  it("lets a user in over ssh with their own key, not banger's", async () => {
    const { items, error } = await collect(s.vmd.serverStream('createVm', vmv1.CreateVmRequest.fromPartial({ name: 'keyed', noWait: true, sshAuthorizedKeys: [userPub] }), { timeoutMs: 600_000 }));
    expect(error).toBeUndefined();
    const last = items.at(-1)?.event?.body;
    keyedIp = last?.$case === 'vm' ? (last.value.network?.ipv4 ?? '') : '';
    expect(keyedIp).toMatch(/^10\.231\.0\.\d+$/);
    const keys = await exec(s, 'keyed', { argv: ['cat', '/root/.ssh/authorized_keys'] });
    expect(text(keys.stdout).split('\n')).toContain(userPub);
    // Only the user's key is offered: no agent, no config, no default identities.
    const ssh = ['netns', 'exec', s.ns.name, 'ssh', '-F', '/dev/null', '-i', join(keyDir, 'id'), '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'ConnectTimeout=5', `root@${keyedIp}`, 'echo in-as-$(id -un)'];
    const env = { ...process.env, SSH_AUTH_SOCK: '' };
    let out = '';
    const deadline = Date.now() + 120_000;
    for (;;) {
      try {
        out = (await run('ip', ssh, { env, timeout: 30_000 })).stdout;
        break;
      } catch (err) {
        // sshd may still be starting; anything else persists until the deadline.
        if (Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 2000));
      }
    }
    expect(out.trim()).toBe('in-as-root');
  }, 700_000);

  it('runs a command as the user, in the directory, with the environment and stdin it was given', async () => {
    const asNobody = await exec(s, 'keyed', { argv: ['sh', '-c', 'id -un; pwd'], user: 'nobody', workingDir: '/tmp' });
    expect(text(asNobody.stdout)).toBe('nobody\n/tmp\n');
    const home = await exec(s, 'keyed', { argv: ['sh', '-c', 'pwd'], user: 'root' });
    expect(text(home.stdout)).toBe('/root\n');
    const missing = await exec(s, 'keyed', { argv: ['true'], workingDir: '/no/such/dir' });
    expect(missing.status?.exitCode).toBe(126);

    const stream = s.vmd.serverStream(
      'streamExecVm',
      vmv1.StreamExecVmRequest.fromPartial({ ref: 'keyed', command: { argv: ['sh', '-c', 'echo "$FOO"; cat; pwd'], env: { FOO: 'bar' }, stdin: Buffer.from('from-stdin\n'), workingDir: '/etc' } }),
      { timeoutMs: 120_000 },
    );
    let out = '';
    let exit: vmv1.ExitStatus | undefined;
    for await (const m of stream) {
      if (m.output?.$case === 'stdout') out += text(m.output.value);
      if (m.output?.$case === 'exit') exit = m.output.value;
    }
    expect(out).toBe('bar\nfrom-stdin\n/etc\n');
    expect(exit).toMatchObject({ exitCode: 0, timedOut: false, signal: '' });
  }, 300_000);

  it('answers all of a big output written just before the exit, with its exit status', async () => {
    // About 4 MB of base64 printed at the very end: under TCG reading it back takes longer than
    // the fixed 5 s drain exec once had, which cut such output short.
    const script = 'head -c 3000000 /dev/urandom > /tmp/r; base64 /tmp/r; sha256sum /tmp/r >&2; rm /tmp/r; exit 3';
    const res = await s.vmd.unary('execVm', vmv1.ExecVmRequest.fromPartial({ ref: 'keyed', command: { argv: ['sh', '-c', script] }, maxOutputBytes: 8 << 20 }), { timeoutMs: 300_000 });
    expect(res.status).toMatchObject({ exitCode: 3, timedOut: false });
    expect(res.stdoutTruncated).toBe(false);
    const bytes = Buffer.from(text(res.stdout), 'base64');
    expect(bytes.length).toBe(3_000_000);
    expect(text(res.stderr).split(' ')[0]).toBe(createHash('sha256').update(bytes).digest('hex'));
  }, 320_000);

  it('kills a command at its timeout and says it timed out', async () => {
    const res = await exec(s, 'keyed', { argv: ['sh', '-c', 'sleep 4; touch /tmp/too-late'], timeout: { seconds: 1, nanos: 0 } });
    expect(res.status).toMatchObject({ timedOut: true, signal: 'SIGKILL' });
    await new Promise((r) => setTimeout(r, 5000));
    const late = await exec(s, 'keyed', { argv: ['test', '-e', '/tmp/too-late'] });
    expect(late.status?.exitCode).toBe(1);
    const fine = await exec(s, 'keyed', { argv: ['true'], timeout: { seconds: 30, nanos: 0 } });
    expect(fine.status).toMatchObject({ exitCode: 0, timedOut: false });
  }, 120_000);

  it('says whether a stop had to kill the VM', async () => {
    const graceful = await s.vmd.unary('stopVm', { ref: 'keyed', timeout: { seconds: 60, nanos: 0 } }, { timeoutMs: 120_000 });
    expect(graceful.forced).toBe(false);
    expect(graceful.vm?.state).toBe(vmv1.VmState.VM_STATE_STOPPED);
    const { error } = await collect(s.vmd.serverStream('startVm', { ref: 'keyed', noWait: true }, { timeoutMs: 600_000 }));
    expect(error).toBeUndefined();
    const killed = await s.vmd.unary('stopVm', { ref: 'keyed', timeout: { seconds: 0, nanos: 0 } }, { timeoutMs: 120_000 });
    expect(killed.forced).toBe(true);
    expect(killed.vm?.state).toBe(vmv1.VmState.VM_STATE_STOPPED);
  }, 700_000);

  it('refuses a kernel imaged has not pulled, and boots one it has', async () => {
    const refused = await collect(s.vmd.serverStream('createVm', vmv1.CreateVmRequest.fromPartial({ name: 'nokernel', noWait: true, kernel: GENERIC_KERNEL }), { timeoutMs: 120_000 }));
    expect((refused.error as RpcError).reason).toBe('KERNEL_NOT_FOUND');
    expect((refused.error as RpcError).errorMetadata['field']).toBe('kernel');

    const pulled = await collect(s.images.serverStream('pullKernel', imagev1.PullKernelRequest.fromPartial({ name: GENERIC_KERNEL }), { timeoutMs: 1_200_000 }));
    expect(pulled.error).toBeUndefined();
    const { items, error } = await collect(s.vmd.serverStream('createVm', vmv1.CreateVmRequest.fromPartial({ name: 'generic', noWait: true, kernel: GENERIC_KERNEL }), { timeoutMs: 600_000 }));
    if (error) console.error('generic-kernel create failed:', JSON.stringify(items.map((i) => i.event?.body).filter((b) => b?.$case === 'failure'), null, 1));
    expect(error).toBeUndefined();
    const last = items.at(-1)?.event?.body;
    expect(last?.$case === 'vm' ? last.value.kernel : '').toBe(GENERIC_KERNEL);
    const uname = text((await exec(s, 'generic', { argv: ['uname', '-r'] })).stdout).trim();
    expect(uname).toMatch(/^\d+\.\d+\.\d+-\d+-amd64$/);
    expect(uname).not.toMatch(/cloud/);
    // A VM made without --kernel keeps the image's own.
    expect((await s.vmd.unary('getVm', { ref: 'keyed', includeSecrets: false })).vm?.kernel).toBe('debian-bookworm-cloud');
  }, 1_900_000);
});
