import { fileURLToPath } from 'node:url';
import { explainUnsafe, unsafeComponent, unsafeEntriesUnder } from '@banger/config';
import { FailedPreconditionError } from '@banger/runtime/errors';

/** The checkout privhelper runs from: its code, its node_modules and the recipes it builds as root. */
export const INSTALL_PREFIX = fileURLToPath(new URL('../../../../../', import.meta.url)).replace(/\/$/, '');

/**
 * privhelper runs code and recipes from its install prefix as root, so whoever can write any of
 * it is root. Refuses to start when the prefix, a directory above it, or anything in it (but
 * .git, which root never executes) is owned by another uid or writable by one. The whole tree
 * is about 20,000 entries: walking it costs ~0.1 s once per start.
 */
export function checkInstallPrefix(prefix = INSTALL_PREFIX): void {
  const above = unsafeComponent(prefix);
  const inside = above ? [] : unsafeEntriesUnder(prefix, 5, new Set(['.git']));
  const bad = above ?? inside[0];
  if (bad === undefined) return;
  throw new FailedPreconditionError(
    'INSTALL_PREFIX_UNSAFE',
    `privhelper runs as root from ${prefix}, but ${explainUnsafe(bad)}: its owner could run code as root. Install banger to a root-owned prefix (e.g. git clone into /opt/banger as root)`,
    { fields: { path: bad.path, fix: `chown -R root:root ${prefix} && chmod -R go-w ${prefix}` } },
  );
}
