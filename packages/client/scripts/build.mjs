// Builds the publishable package: dist/index.js (one ES module; the workspace packages it uses,
// @banger/api and @banger/runtime, bundled in) and dist/types (declarations from tsc).
//
// tsc emits a declaration for each source the client reaches, under dist/types/<repo path>, but
// leaves their imports of workspace packages (`@banger/api`, `@banger/runtime/client`) as they
// were: those packages are not published, so each such specifier is rewritten to the relative
// path of the declaration it resolves to, through the package's own `exports` map.
import { execFileSync } from 'node:child_process';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const PKG = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const ROOT = resolve(PKG, '../..');
const DIST = join(PKG, 'dist');
const TYPES = join(DIST, 'types');
const EXTERNAL = ['@grpc/grpc-js', '@bufbuild/protobuf'];

await rm(DIST, { recursive: true, force: true });
await build({
  absWorkingDir: ROOT,
  entryPoints: [join(PKG, 'src/index.ts')],
  outfile: join(DIST, 'index.js'),
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: 'linked',
  external: EXTERNAL.flatMap((p) => [p, `${p}/*`]),
  logLevel: 'warning',
});

execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(PKG, 'tsconfig.build.json')], { stdio: 'inherit' });

/** `@banger/x[/sub]` → the .d.ts tsc wrote for the file that specifier names. */
async function workspaceTarget(specifier) {
  const m = /^@banger\/([^/]+)(\/.*)?$/.exec(specifier);
  if (!m) return undefined;
  const pkgDir = join(ROOT, 'packages', m[1]);
  const { exports } = JSON.parse(await readFile(join(pkgDir, 'package.json'), 'utf8'));
  const target = exports[`.${m[2] ?? ''}`];
  if (typeof target !== 'string') throw new Error(`${specifier}: no such export in ${pkgDir}/package.json`);
  return join(TYPES, relative(ROOT, join(pkgDir, target))).replace(/\.ts$/, '.js');
}

async function* files(dir) {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* files(p);
    else if (p.endsWith('.d.ts')) yield p;
  }
}

const SPECIFIER = /(from\s+|import\s*\(\s*)(['"])(@banger\/[^'"]+)\2/g;
for await (const file of files(TYPES)) {
  const text = await readFile(file, 'utf8');
  const targets = new Map();
  for (const m of text.matchAll(SPECIFIER)) targets.set(m[3], await workspaceTarget(m[3]));
  if (targets.size === 0) continue;
  const rewritten = text.replace(SPECIFIER, (_all, lead, quote, spec) => {
    let rel = relative(dirname(file), targets.get(spec));
    if (!rel.startsWith('.')) rel = `./${rel}`;
    return `${lead}${quote}${rel}${quote}`;
  });
  await writeFile(file, rewritten);
}
console.log(`built ${relative(ROOT, DIST)}`);
