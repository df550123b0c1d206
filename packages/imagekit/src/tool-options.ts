import type { RunOptions } from '@banger/proc';

/**
 * What imagekit's tools (apt, debootstrap, npm) may take from the daemon's environment:
 * proxies, a temp dir, and npm's home, cache and registry. Nothing else leaks into a build.
 */
export const BUILD_ENV_PASSTHROUGH: readonly string[] = [
  'http_proxy', 'https_proxy', 'no_proxy', 'HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY',
  'TMPDIR', 'HOME', 'npm_config_cache', 'npm_config_registry',
];

/**
 * debootstrap from a slow mirror, `npm pack` of a 185 MB artifact or mkfs of a full tree can
 * take many minutes; a hung one still ends, and the caller's signal ends it sooner.
 */
export const BUILD_STEP_TIMEOUT_MS = 30 * 60_000;

/** The options every imagekit tool run shares: an abort is BUILD_CANCELLED, like the build's own checks. */
export function toolOptions(signal: AbortSignal | undefined, more: Omit<RunOptions, 'encoding'> = {}): Omit<RunOptions, 'encoding'> {
  return { signal, cancelReason: 'BUILD_CANCELLED', timeoutMs: BUILD_STEP_TIMEOUT_MS, inheritEnv: BUILD_ENV_PASSTHROUGH, ...more };
}
