#!/usr/bin/env node
// Runs the TypeScript sources directly through tsx, like every banger process.
//
// tsx would keep transformed code in $TMPDIR/tsx-<euid>/ and run whatever it finds there. As
// root (an admin's `sudo banger system install`), that is /tmp/tsx-0, which another uid can
// create first and fill where /tmp is shared: root never uses the disk cache. The env must be
// set before tsx is loaded (hence the dynamic import) and before register() starts its loader
// thread, which copies the environment.
if (process.geteuid?.() === 0) process.env.TSX_DISABLE_CACHE = '1';
const { register } = await import('tsx/esm/api');

register();
await import('../src/main.ts');
