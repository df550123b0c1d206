/** The PATH every child gets unless the caller passes its own: system directories only, no daemon or user paths. */
export const PINNED_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * The whole environment of a child unless the caller adds to it. A known PATH means a daemon
 * started from a shell with odd PATH entries runs the same binaries as under systemd; the C
 * locale (UTF-8 flavour) keeps tool messages untranslated so callers can match stderr.
 */
export const PINNED_ENV: Readonly<Record<string, string>> = Object.freeze({ PATH: PINNED_PATH, LC_ALL: 'C.UTF-8', LANG: 'C.UTF-8' });

export interface EnvOptions {
  /** Set in the child over the pinned base (may replace PATH or the locale). */
  readonly env?: Readonly<Record<string, string>> | undefined;
  /** Names copied from this process's environment when set (e.g. proxy variables for apt). */
  readonly inheritEnv?: readonly string[] | undefined;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function checkName(name: string, where: string): void {
  if (!NAME.test(name)) throw new TypeError(`${where}: ${JSON.stringify(name)} is not an environment variable name`);
}

/**
 * The child's environment: PINNED_ENV, then the named variables passed through from `from`,
 * then `env`. Nothing else of the daemon's environment (secrets, NODE_OPTIONS, LD_*) leaks in.
 */
export function childEnv(opts: EnvOptions, from: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const out: Record<string, string> = { ...PINNED_ENV };
  for (const name of opts.inheritEnv ?? []) {
    checkName(name, 'inheritEnv');
    const v = from[name];
    if (v !== undefined) out[name] = v;
  }
  for (const [name, v] of Object.entries(opts.env ?? {})) {
    checkName(name, 'env');
    if (v.includes('\0')) throw new TypeError(`env: ${name} contains a NUL byte`);
    out[name] = v;
  }
  return out;
}
