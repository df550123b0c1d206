// Builds native/build/Release/banger_sys.node (the N-API addon) and native/build/banger-jailer
// with the machine's C compiler directly, against the running Node's own headers
// (Debian's nodejs: /usr/include/node; a tarball install: <prefix>/include/node). No node-gyp:
// it is a dev dependency, and `npm ci --omit=dev` or a pruned tree must still build this.
// Only when no headers are installed next to Node does it fall back to node-gyp (which
// downloads them), if node-gyp is there.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const nativeDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'native');
const buildDir = join(nativeDir, 'build');
const cc = process.env.CC || 'cc';
const WARN = ['-Wall', '-Wextra', '-Werror'];

function run(file, args, cwd) {
  const r = spawnSync(file, args, { cwd, stdio: 'inherit' });
  if (r.error) throw r.error;
  if (r.status !== 0) process.exit(r.status ?? 1);
}

function nodeHeaders() {
  const prefix = resolve(dirname(process.execPath), '..');
  for (const dir of [join(prefix, 'include', 'node'), '/usr/include/node']) {
    if (existsSync(join(dir, 'node_api.h'))) return dir;
  }
  return undefined;
}

const headers = nodeHeaders();
if (headers !== undefined) {
  mkdirSync(join(buildDir, 'Release'), { recursive: true });
  const sources = readdirSync(nativeDir).filter((f) => f.endsWith('.c') && f !== 'jailer.c').map((f) => join(nativeDir, f));
  run(cc, [
    '-O2', '-fPIC', '-pthread', '-shared', ...WARN, '-Wno-unused-parameter',
    '-DNODE_GYP_MODULE_NAME=banger_sys', '-DBUILDING_NODE_EXTENSION', '-D_FILE_OFFSET_BITS=64', '-D_LARGEFILE_SOURCE',
    `-I${headers}`, '-o', join(buildDir, 'Release', 'banger_sys.node'), ...sources,
  ]);
} else {
  let nodeGyp;
  try {
    nodeGyp = createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js');
  } catch {
    console.error(`build-native: no Node headers next to ${process.execPath} (node_api.h) and no node-gyp to download them; install Node's headers (Debian: they come with nodejs)`);
    process.exit(1);
  }
  run(process.execPath, [nodeGyp, 'rebuild'], nativeDir);
}

// banger-jailer: the small root program that starts each VM's QEMU jailed (see jailer.c).
run(cc, ['-O2', ...WARN, '-o', join(buildDir, 'banger-jailer'), join(nativeDir, 'jailer.c')]);
