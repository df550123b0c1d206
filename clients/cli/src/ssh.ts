import { spawn } from 'node:child_process';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { vmv1 } from '@banger/api';
import { CliError } from './errors.js';
import { EXIT } from './exit-codes.js';

type Env = Record<string, string | undefined>;

/** banger's own known_hosts, so per-VM host keys never pollute ~/.ssh/known_hosts. */
export function knownHostsPath(env: Env): string {
  const state = env['XDG_STATE_HOME'] || join(env['HOME'] || homedir(), '.local', 'state');
  return join(state, 'banger', 'known_hosts');
}

/** BANGER_SSH_KEY wins; else the key vmd says the guest authorises (older vmds: the `-i` of its ssh command). */
export function sshKey(env: Env, vm?: vmv1.Vm): string | undefined {
  if (env['BANGER_SSH_KEY']) return env['BANGER_SSH_KEY'];
  if (vm?.ssh?.identityFile) return vm.ssh.identityFile;
  const cmd = vm?.ssh?.command ?? [];
  const i = cmd.indexOf('-i');
  return i >= 0 ? cmd[i + 1] : undefined;
}

/** This CLI as a command line (for ssh's ProxyCommand); BANGER_CLI overrides it (one path, e.g. an installed launcher). */
export function selfArgv(env: Env): string[] {
  if (env['BANGER_CLI']) return [env['BANGER_CLI']];
  return [process.execPath, ...(process.argv[1] ? [process.argv[1]] : [])];
}

/** POSIX shell quoting for one word (ssh runs ProxyCommand through the user's shell). */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, "'\\''")}'`;
}

/**
 * The known_hosts name of a VM's host key: its id, never its address or name, which later VMs
 * reuse (a recycled address must not trip "host key changed", nor inherit another VM's key).
 */
export function hostKeyAlias(vm: Pick<vmv1.Vm, 'id' | 'name'>): string {
  return `banger-vm-${vm.id || vm.name}`;
}

/** `banger vm tunnel REF 22` as ssh's ProxyCommand: the route that works in every network mode. */
export function proxyCommand(vm: Pick<vmv1.Vm, 'id' | 'name'>, env: Env, vmdSocket: string | undefined): string {
  return [...selfArgv(env), ...(vmdSocket ? ['--vmd-socket', vmdSocket] : []), 'vm', 'tunnel', vm.id || vm.name, '22', '--wait', '30s'].map(shellQuote).join(' ');
}

/**
 * The ssh argument vector for a VM (no shell involved): through `banger vm tunnel` (vmd, and
 * privhelper when VMs live in a network namespace), with banger's own known_hosts and the
 * VM's id as the host key's name.
 */
export function sshArgv(vm: vmv1.Vm, env: Env, extra: readonly string[] = [], opts: { vmdSocket?: string | undefined } = {}): string[] {
  if (!vm.network?.ipv4 && !vm.ssh?.host) throw new CliError(`vm ${vm.name} has no address yet (is it running?)`, EXIT.PRECONDITION, 'VM_NO_ADDRESS');
  const key = sshKey(env, vm);
  const argv = [
    '-o',
    `ProxyCommand=${proxyCommand(vm, env, opts.vmdSocket)}`,
    '-o',
    `HostKeyAlias=${hostKeyAlias(vm)}`,
    '-o',
    'StrictHostKeyChecking=accept-new',
    '-o',
    `UserKnownHostsFile=${knownHostsPath(env)}`,
  ];
  if (key) argv.push('-i', key, '-o', 'IdentitiesOnly=yes');
  argv.push(`${vm.ssh?.user || 'root'}@${vm.network?.dnsName || `${vm.name}.vm`}`, ...extra);
  return argv;
}

/** Runs a program with the terminal attached and resolves to its exit code. */
export function spawnInherit(file: string, args: readonly string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: 'inherit' });
    child.once('error', (err: NodeJS.ErrnoException) =>
      reject(err.code === 'ENOENT' ? new CliError(`${file} not found in PATH; install openssh-client`, EXIT.PRECONDITION, 'SSH_NOT_FOUND') : err),
    );
    child.once('exit', (code, signal) => resolve(code ?? 128 + (signal ? 1 : 0)));
  });
}
