// `npm run build`: compiles every launcher's entry point to one ES module each with esbuild,
// so no banger process transpiles TypeScript (or loads tsx) at start-up. docs/build.md has
// the measurements behind bundling over per-file tsc output, and what the bundles keep outside.
//
// Third-party packages stay external (resolved from node_modules at run time, as declared in
// each workspace's dependencies); the workspace packages (@banger/*) are bundled in.
//
// Sources find files next to themselves with `new URL('…', import.meta.url)` (the native
// addon, the jailer, generated descriptors, the images/ catalog, the install prefix). In a
// bundle import.meta.url would be the bundle's, so each module's import.meta.url is rewritten
// to its own source file's URL, relative to the bundle: the relative paths keep meaning what
// they mean under tsx, and the tree stays relocatable.
import { execFileSync } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { build } from 'esbuild';
import { readFile, rm } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Bundle name → entry source, per output directory. */
export const ENTRIES = [
  { outdir: 'clients/cli/dist', entryPoints: { banger: 'clients/cli/src/main.ts' }, splitting: true },
  { outdir: 'services/vmd/dist', entryPoints: { vmd: 'services/vmd/src/main.ts' } },
  { outdir: 'services/imaged/dist', entryPoints: { imaged: 'services/imaged/src/main.ts' } },
  {
    outdir: 'services/privhelper/dist',
    entryPoints: { privhelper: 'services/privhelper/src/main.ts', 'dns-main': 'services/privhelper/src/adapters/net/dnsMain.ts' },
  },
];

/**
 * Pure-JS packages every process loads at start-up, bundled in: Node loads one file instead of
 * their dozens (most of a CLI command's start-up was module resolution, docs/build.md).
 * Everything else stays external: pino and pino-pretty start worker threads by file path,
 * PGlite loads its WASM next to itself, and the rest are needed late or by daemons only.
 */
const BUNDLED = new Set(['@grpc/grpc-js', '@js-sdsl/ordered-map', '@bufbuild/protobuf', 'smol-toml']);

/** The commit the bundles are built from (banger_build_info); "unknown" outside a git checkout. */
const COMMIT = (() => {
  try {
    const head = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() !== '';
    return dirty ? `${head}-dirty` : head;
  } catch {
    return 'unknown';
  }
})();

function packageName(specifier) {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

const externalThirdParty = {
  name: 'external-third-party',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) => {
      if (args.path.startsWith('node:')) return undefined;
      const name = packageName(args.path);
      return name.startsWith('@banger/') || BUNDLED.has(name) ? undefined : { path: args.path, external: true };
    });
  },
};

/** Bundled CommonJS (grpc-js) calls require() for Node's built-ins. */
const REQUIRE_SHIM = "import { createRequire as __bangerCreateRequire } from 'node:module'; const require = __bangerCreateRequire(import.meta.url);";

/** Rewrites import.meta.url in each workspace source to that source's own URL (see top). */
function ownImportMetaUrl(outdir) {
  return {
    name: 'own-import-meta-url',
    setup(b) {
      b.onLoad({ filter: /\.ts$/ }, async (args) => {
        if (args.path.includes('/node_modules/')) return undefined;
        const text = await readFile(args.path, 'utf8');
        if (!text.includes('import.meta.url')) return { contents: text, loader: 'ts' };
        const rel = relative(join(ROOT, outdir), args.path);
        const own = `new URL(${JSON.stringify(rel)}, import.meta.url).href`;
        return { contents: text.replaceAll('import.meta.url', own), loader: 'ts' };
      });
    },
  };
}

/**
 * esbuild's options for one entry of ENTRIES; exported so a unit test can build the CLI in
 * memory and check which modules each command loads (clients/cli/src/bundle.test.ts).
 */
export function bundleOptions(e) {
  return {
    absWorkingDir: ROOT,
    entryPoints: e.entryPoints,
    outdir: e.outdir,
    bundle: true,
    splitting: e.splitting ?? false,
    // Chunks beside the entry: the import.meta.url rewrite (above) is relative to outdir.
    chunkNames: '[name]-[hash]',
    format: 'esm',
    platform: 'node',
    target: 'node20',
    outExtension: { '.js': '.mjs' },
    sourcemap: 'linked',
    define: { __BANGER_COMPILED__: 'true', __BANGER_COMMIT__: JSON.stringify(COMMIT) },
    banner: { js: REQUIRE_SHIM },
    plugins: [externalThirdParty, ownImportMetaUrl(e.outdir)],
    logLevel: 'warning',
  };
}

// Run as a script (not imported by a test); realpath: Node gives import.meta.url through symlinks.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  const started = Date.now();
  for (const e of ENTRIES) {
    // Chunk names carry a content hash: without this, every build would leave the previous
    // build's chunks beside the new ones.
    await rm(join(ROOT, e.outdir), { recursive: true, force: true });
    await build(bundleOptions(e));
  }
  console.log(`built ${ENTRIES.length} bundles in ${Date.now() - started} ms`);
}
