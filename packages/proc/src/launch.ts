import type { SpawnOptions, StdioNull, StdioPipe } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { childEnv, type EnvOptions } from './env.js';
import { ProcError, toolMissing, toolNotExecutable } from './errors.js';
import { resolveTool } from './resolve.js';

/** How a child is started; shared by `run` and `spawnProcess`. */
export interface LaunchOptions extends EnvOptions {
  readonly cwd?: string | undefined;
  /**
   * Drop to this uid/gid before exec (both or neither). libuv also clears the supplementary
   * groups, so a child started by root keeps none of root's groups.
   */
  readonly uid?: number | undefined;
  readonly gid?: number | undefined;
  /**
   * Run the tool behind `setpriv --no-new-privs` (util-linux): the tool and everything it
   * starts can never gain privileges through setuid binaries or file capabilities. Node has no
   * hook between fork and exec to call prctl itself.
   */
  readonly noNewPrivs?: boolean | undefined;
  /**
   * Run the tool in a private mount namespace (`unshare --mount --propagation private`): what
   * it mounts (debootstrap's proc and sys in a target, package scripts' mounts) lives and dies
   * with it and never leaks onto the host, even when it is killed outright.
   */
  readonly privateMounts?: boolean | undefined;
  /** Open fds of this process the child inherits as its fd 3, 4, ... in order (tap fds, `-add-fd`). */
  readonly extraFds?: readonly number[] | undefined;
  /**
   * Start the child as the leader of its own process group (default true), so a timeout,
   * abort or kill reaches its grandchildren too. With false only the child itself is signalled.
   */
  readonly detached?: boolean | undefined;
}

type Stdio = StdioNull | StdioPipe | number;

export interface Launch {
  /** The name errors carry: the program as the caller named it. */
  readonly tool: string;
  readonly file: string;
  readonly args: string[];
  readonly options: SpawnOptions;
  readonly group: boolean;
  /** Maps setpriv's own "failed to execute" exit to the error a direct exec would have given. */
  execFailure(code: number | null, stderr: string): ProcError | undefined;
}

function checkId(name: string, v: number | undefined): void {
  if (v !== undefined && (!Number.isSafeInteger(v) || v < 0)) throw new TypeError(`${name} must be a non-negative integer`);
}

/** Validates options, pins the environment, resolves the program and builds spawn's arguments. */
export async function prepareLaunch(file: string, args: readonly string[], opts: LaunchOptions, stdio: readonly [Stdio, Stdio, Stdio]): Promise<Launch> {
  checkId('uid', opts.uid);
  checkId('gid', opts.gid);
  if ((opts.uid === undefined) !== (opts.gid === undefined)) {
    // A uid alone would leave the child in root's group.
    throw new TypeError('uid and gid must be given together');
  }
  for (const fd of opts.extraFds ?? []) checkId('extraFds[]', fd);
  const env = childEnv(opts);
  if (opts.cwd !== undefined && !(await stat(opts.cwd).then((st) => st.isDirectory(), () => false))) {
    // spawn would report a bad cwd as ENOENT of the program, i.e. a missing tool.
    throw new ProcError('SPAWN_FAILED', `cannot start ${file}: cwd ${opts.cwd} is not a directory`, { tool: file });
  }
  const cwd = opts.cwd ?? process.cwd();
  const resolved = await resolveTool(file, env['PATH'], cwd);
  const nnp = opts.noNewPrivs === true;
  const setpriv = nnp ? await resolveTool('setpriv', env['PATH'], cwd) : undefined;
  const unshare = opts.privateMounts === true ? await resolveTool('unshare', env['PATH'], cwd) : undefined;
  const inner = setpriv === undefined ? [resolved, ...args] : [setpriv, '--no-new-privs', '--', resolved, ...args];
  const argv = unshare === undefined ? inner : [unshare, '--mount', '--propagation', 'private', '--', ...inner];
  const group = opts.detached ?? true;
  const options: SpawnOptions = {
    ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
    env,
    argv0: unshare !== undefined ? 'unshare' : nnp ? 'setpriv' : file,
    stdio: [...stdio, ...(opts.extraFds ?? [])],
    detached: group,
    ...(opts.uid !== undefined ? { uid: opts.uid } : {}),
    ...(opts.gid !== undefined ? { gid: opts.gid } : {}),
  };
  return {
    tool: file,
    file: argv[0] ?? resolved,
    args: argv.slice(1),
    options,
    group,
    execFailure(code, stderr) {
      if (!/^(?:setpriv|unshare): failed to execute /m.test(stderr)) return undefined;
      if (code === 127) return toolMissing(file);
      if (code === 126) return toolNotExecutable(file);
      return undefined;
    },
  };
}
