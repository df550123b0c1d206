#!/usr/bin/env node
// Launcher: runs the TypeScript entry point through tsx's loader in this same process,
// so the PID systemd (or a test) holds is the daemon itself.
//
// tsx would keep transformed code in $TMPDIR/tsx-0/ and run whatever it finds there. Where
// /tmp is shared (no PrivateTmp: scripts/daemons.sh, the demo), another uid can create that
// directory first and fill it with code root then runs; so privhelper never uses the disk
// cache. The env must be set before tsx is loaded (hence the dynamic import), and before
// register() starts its loader thread, which copies the environment.
process.env.TSX_DISABLE_CACHE = '1';
const { register } = await import('tsx/esm/api');

register();
await import('../src/main.ts');
