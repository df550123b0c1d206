import { spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cloneIdentityCommand, identitySteps } from './clone-identity-script.js';
import { newHostKeys } from './host-keys.js';

/** Runs the script under the host's /bin/sh with `bin` first on PATH and the input on stdin. */
function sh(argv: string[], input: Buffer, bin: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { env: { PATH: `${bin}:${process.env.PATH ?? ''}` } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

describe('the clone identity script (run by /bin/sh on a fake root)', () => {
  let root = '';
  let bin = '';
  const [ed, ec] = newHostKeys('root@clone-1');
  const entropy = Buffer.from('00ff10e0'.repeat(16), 'hex');
  const command = (over: { root?: string } = {}): { argv: string[]; input: Buffer } =>
    cloneIdentityCommand({
      mac: '02:42:0a:00:00:07',
      address: '10.0.0.7/24',
      gateway: '10.0.0.1',
      hostname: 'clone-1',
      machineId: '0123456789abcdef0123456789abcdef',
      nowMs: 1_700_000_000_250,
      ed25519: ed!,
      ecdsa: ec!,
      entropy,
      root,
      arch: 'x64',
      ...over,
    });

  beforeEach(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'clone-identity-'));
    bin = path.join(root, 'bin');
    for (const d of ['bin', 'etc/ssh', 'proc/sys/kernel', 'sys/class/net/lo', 'sys/class/net/eth0', 'dev']) await mkdir(path.join(root, d), { recursive: true });
    await writeFile(path.join(root, 'proc/sys/kernel/hostname'), 'src\n');
    await writeFile(path.join(root, 'etc/hostname'), 'src\n');
    await writeFile(path.join(root, 'etc/hosts'), '127.0.0.1\tlocalhost\n127.0.1.1\tsrc\n::1 localhost ip6-localhost\n');
    await writeFile(path.join(root, 'etc/machine-id'), 'ffffffffffffffffffffffffffffffff\n');
    await chmod(path.join(root, 'etc/machine-id'), 0o444);
    for (const f of ['ssh_host_rsa_key', 'ssh_host_ed25519_key', 'ssh_host_ed25519_key.pub']) await writeFile(path.join(root, 'etc/ssh', f), 'source key\n');
    // Fakes that record what they were given: ip's batch on stdin, perl's arguments and stdin.
    await writeFile(path.join(bin, 'ip'), `#!/bin/sh\necho "$@" > ${root}/ip.args\ncat > ${root}/ip.batch\n`, { mode: 0o755 });
    await writeFile(path.join(bin, 'perl'), `#!/bin/sh\nshift 3\necho "$@" > ${root}/perl.args\ncat > ${root}/perl.stdin\nrm -f ${root}/etc/ssh/ssh_host_*\n`, { mode: 0o755 });
  });
  afterEach(async () => rm(root, { recursive: true, force: true }));

  it('writes every identity file with the right content and mode, with two processes (perl, ip) and no secret in an argument', async () => {
    const { argv, input } = command();
    expect(argv.join(' ')).not.toContain(ed!.privateKey.split('\n')[1]);
    expect(argv.join(' ')).not.toContain(entropy.toString('hex'));
    const res = await sh(argv, input, bin);
    expect(res, res.stderr).toMatchObject({ code: 0, stderr: '' });
    const read = (f: string): Promise<string> => readFile(path.join(root, f), 'utf8');
    const mode = async (f: string): Promise<number> => (await stat(path.join(root, f))).mode & 0o777;
    expect(await read('proc/sys/kernel/hostname')).toBe('clone-1');
    expect(await read('etc/hostname')).toBe('clone-1\n');
    expect(await read('etc/hosts')).toBe('127.0.0.1\tlocalhost\n127.0.1.1 clone-1\n::1 localhost ip6-localhost\n');
    expect(await read('etc/machine-id')).toBe('0123456789abcdef0123456789abcdef\n');
    expect(await mode('etc/machine-id')).toBe(0o444);
    expect(await read('etc/ssh/ssh_host_ed25519_key')).toBe(ed!.privateKey);
    expect(await read('etc/ssh/ssh_host_ecdsa_key')).toBe(ec!.privateKey);
    expect(await mode('etc/ssh/ssh_host_ed25519_key')).toBe(0o600);
    expect(await mode('etc/ssh/ssh_host_ecdsa_key')).toBe(0o600);
    expect(await read('etc/ssh/ssh_host_ed25519_key.pub')).toBe(`${ed!.publicKey}\n`);
    expect(await mode('etc/ssh/ssh_host_ecdsa_key.pub')).toBe(0o644);
    await expect(stat(path.join(root, 'etc/ssh/ssh_host_rsa_key'))).rejects.toMatchObject({ code: 'ENOENT' });
    // The NIC: one ip process, the first interface that is not lo, MAC changed while down.
    expect(await read('ip.args')).toBe('-b -\n');
    expect((await read('ip.batch')).trim().split('\n')).toEqual([
      'link set dev eth0 down',
      'link set dev eth0 address 02:42:0a:00:00:07',
      'addr flush dev eth0',
      'link set dev eth0 up',
      'addr replace 10.0.0.7/24 dev eth0',
      'route replace default via 10.0.0.1 dev eth0',
    ]);
    // The clock (seconds, nanoseconds, clock_settime on x86-64) and the entropy, on stdin.
    expect(await read('perl.args')).toBe('1700000000 250000000 227\n');
    expect(await read('perl.stdin')).toBe(`${entropy.toString('hex')}\n`);
    expect(Object.keys(identitySteps(res.stdout))).toEqual(['clock_rng', 'nic', 'files']);
  });

  it('appends a 127.0.1.1 line when /etc/hosts has none', async () => {
    await writeFile(path.join(root, 'etc/hosts'), '127.0.0.1 localhost');
    const { argv, input } = command();
    expect((await sh(argv, input, bin)).code).toBe(0);
    expect(await readFile(path.join(root, 'etc/hosts'), 'utf8')).toBe('127.0.0.1 localhost\n127.0.1.1 clone-1\n');
  });

  it('fails, naming why, when stdin ends inside a key, and when there is no NIC', async () => {
    const { argv, input } = command();
    const cut = await sh(argv, input.subarray(0, 100), bin);
    expect(cut.code).not.toBe(0);
    expect(cut.stderr).toContain('stdin ended inside a private key');
    await rm(path.join(root, 'sys/class/net/eth0'), { recursive: true });
    const noNic = await sh(argv, input, bin);
    expect(noNic.code).not.toBe(0);
    expect(noNic.stderr).toContain('no network interface besides lo');
  });

  it('the real perl program unlinks the old host keys and issues RNDADDENTROPY (refused here: /dev/urandom is a plain file)', async () => {
    const perl = command().argv[4]!;
    await writeFile(path.join(root, 'dev/urandom'), '');
    const res = await sh(['/usr/bin/perl', '-e', perl, root, '1700000000', '0', '0'], Buffer.from(`${entropy.toString('hex')}\n`), bin);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(/^RNDADDENTROPY: /);
    await expect(stat(path.join(root, 'etc/ssh/ssh_host_rsa_key'))).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(stat(path.join(root, 'etc/ssh/ssh_host_ed25519_key.pub'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('refuses a private key that is not an OpenSSH key file', () => {
    const good = command();
    expect(good.argv[0]).toBe('/bin/sh');
    expect(() => cloneIdentityCommand({ mac: '', address: '', gateway: '', hostname: 'h', machineId: 'm', nowMs: 0, ed25519: { privateKey: 'not a key\n', publicKey: 'y' }, ecdsa: ec!, entropy })).toThrow(/OpenSSH key file/);
  });
});
