import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const HEAVY = ['@grpc/grpc-js', '@grpc/proto-loader', '@grpc/reflection', 'pg', '@electric-sql/pglite', '@bufbuild/protobuf'];

/**
 * Everything a set of entry files loads at run time, following banger's own packages through
 * their package exports (type-only imports are erased, as at run time), listing the third-party
 * packages reached and banger files pulled in.
 */
async function runtimeImports(entries: string[]): Promise<{ packages: Set<string>; files: string[] }> {
  const packages = new Set<string>();
  const result = await build({
    entryPoints: entries,
    bundle: true,
    write: false,
    metafile: true,
    platform: 'node',
    format: 'esm',
    outdir: '/nonexistent',
    logLevel: 'silent',
    plugins: [
      {
        name: 'third-party-external',
        setup(b) {
          b.onResolve({ filter: /^[^./]/ }, (args) => {
            if (args.path.startsWith('@banger/') || args.path.startsWith('node:')) return undefined;
            const name = args.path.startsWith('@') ? args.path.split('/').slice(0, 2).join('/') : (args.path.split('/')[0] ?? args.path);
            packages.add(name);
            return { path: args.path, external: true };
          });
        },
      },
    ],
  });
  return { packages, files: Object.keys(result.metafile.inputs) };
}

function sources(dir: string): string[] {
  return readdirSync(`${ROOT}${dir}`, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
    .map((f) => `${ROOT}${dir}/${f}`);
}

describe('the boundary of domain, use-case and port code', () => {
  it.each([
    ['vmd domain, app and ports', ['services/vmd/src/domain', 'services/vmd/src/app', 'services/vmd/src/ports']],
    ['the operations use cases', ['packages/operations/src/app']],
  ])('%s load neither grpc-js, a database driver nor generated code', async (_what, dirs) => {
    const { packages, files } = await runtimeImports(dirs.flatMap(sources));
    expect([...packages].filter((p) => HEAVY.includes(p))).toEqual([]);
    expect(files.filter((f) => f.includes('packages/api/') || f.includes('/adapters/'))).toEqual([]);
  });

  it.each(['errors', 'ids', 'duration', 'keyed-lock', 'ops', 'context', 'logging', 'opid'])('@banger/runtime/%s does not load grpc-js', async (sub) => {
    const { packages } = await runtimeImports([`${ROOT}packages/runtime/src/${sub === 'ops' ? 'ops/events' : sub}.ts`]);
    expect([...packages].filter((p) => HEAVY.includes(p))).toEqual([]);
  });

  it('would notice: the runtime barrel does load grpc-js', async () => {
    const { packages } = await runtimeImports([`${ROOT}packages/runtime/src/index.ts`]);
    expect(packages.has('@grpc/grpc-js')).toBe(true);
  });
});
