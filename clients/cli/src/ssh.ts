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

/** BANGER_SSH_KEY wins; else the key in the daemon's ready-made ssh command, if any. */
export function sshKey(env: Env, vm?: vmv1.Vm): string | undefined {
  if (env['BANGER_SSH_KEY']) return env['BANGER_SSH_KEY'];
  const cmd = vm?.ssh?.command ?? [];
  const i = cmd.indexOf('-i');
  return i >= 0 ? cmd[i + 1] : undefined;
}

/** The ssh argument vector for a VM (no shell involved). */
export function sshArgv(vm: vmv1.Vm, env: Env, extra: readonly string[] = []): string[] {
  const host = vm.network?.ipv4 || vm.ssh?.host || vm.network?.dnsName;
  if (!host) throw new CliError(`vm ${vm.name} has no address yet (is it running?)`, EXIT.PRECONDITION, 'VM_NO_ADDRESS');
  const key = sshKey(env, vm);
  const argv = ['-o', 'StrictHostKeyChecking=accept-new', '-o', `UserKnownHostsFile=${knownHostsPath(env)}`];
  if (key) argv.push('-i', key, '-o', 'IdentitiesOnly=yes');
  if (vm.ssh?.port && vm.ssh.port !== 22) argv.push('-p', String(vm.ssh.port));
  argv.push(`${vm.ssh?.user || 'root'}@${host}`, ...extra);
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
