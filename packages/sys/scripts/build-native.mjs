// Builds native/build/Release/banger_sys.node with node-gyp against the running Node's own
// headers when they are installed next to it (Debian's nodejs: /usr/include/node), so the build
// works offline; otherwise node-gyp falls back to downloading headers for this Node version.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const nativeDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'native');
const nodeGyp = require.resolve('node-gyp/bin/node-gyp.js');
const prefix = resolve(dirname(process.execPath), '..');
const args = [nodeGyp, 'rebuild'];
if (existsSync(join(prefix, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${prefix}`);

const r = spawnSync(process.execPath, args, { cwd: nativeDir, stdio: 'inherit' });
if (r.status !== 0) process.exit(r.status ?? 1);

// banger-jailer: the small root program that starts each VM's QEMU jailed (see jailer.c). A
// plain executable, so it is built with the machine's C compiler directly.
const cc = process.env.CC || 'cc';
const j = spawnSync(cc, ['-O2', '-Wall', '-Wextra', '-Werror', '-o', join(nativeDir, 'build', 'banger-jailer'), join(nativeDir, 'jailer.c')], { stdio: 'inherit' });
process.exit(j.status ?? 1);
