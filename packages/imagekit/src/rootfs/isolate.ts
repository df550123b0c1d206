/**
 * The argv that runs a build step (debootstrap, a chroot'd tool) in a private mount namespace:
 * whatever it mounts (debootstrap mounts proc and sys in the target; package scripts may mount
 * more) lives and dies with that process and can never leak onto the host, even when the build
 * is killed outright.
 */
export function isolated(cmd: string, args: readonly string[]): [string, string[]] {
  return ['unshare', ['--mount', '--propagation', 'private', '--', cmd, ...args]];
}
