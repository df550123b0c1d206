import { build, type Metafile } from 'esbuild';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

/**
 * Which generated code each command loads, read from the CLI bundle's chunk graph (esbuild's
 * metafile, built in memory with the same options as `npm run build`): a static import that
 * drags a service's generated code into `banger version` fails here, not as a slow start-up.
 */
interface BuildScript {
  ENTRIES: { outdir: string }[];
  bundleOptions(e: { outdir: string }): Parameters<typeof build>[0];
}

const BUILD_SCRIPT = fileURLToPath(new URL('../../../scripts/build.mjs', import.meta.url));
const SERVICES = ['vm/v1/vm_service.ts', 'image/v1/image_service.ts', 'helper/v2/helper_service.ts'];

let outputs: Metafile['outputs'];

/** Output files loaded before `source`'s code runs: its chunk and every static import, transitively. */
function staticClosure(source: string): Set<string> {
  const start = Object.keys(outputs).find((o) => outputs[o]?.inputs[source] !== undefined);
  if (!start) throw new Error(`${source} is in no output chunk`);
  const seen = new Set<string>();
  const todo = [start];
  while (todo.length > 0) {
    const o = todo.pop() as string;
    if (seen.has(o)) continue;
    seen.add(o);
    for (const i of outputs[o]?.imports ?? []) if (i.kind === 'import-statement' && outputs[i.path]) todo.push(i.path);
  }
  return seen;
}

/** The generated service definitions in the chunks loaded for these sources. */
function servicesLoadedBy(...sources: string[]): string[] {
  const chunks = new Set(sources.flatMap((s) => [...staticClosure(s)]));
  const inputs = [...chunks].flatMap((o) => Object.keys(outputs[o]?.inputs ?? {}));
  return SERVICES.filter((s) => inputs.some((i) => i.endsWith(`packages/api/gen/banger/${s}`)));
}

describe('the CLI bundle', () => {
  beforeAll(async () => {
    const { ENTRIES, bundleOptions } = (await import(BUILD_SCRIPT)) as BuildScript;
    const cli = ENTRIES.find((e) => e.outdir === 'clients/cli/dist');
    if (!cli) throw new Error('no CLI entry in scripts/build.mjs');
    const result = await build({ ...bundleOptions(cli), write: false, metafile: true, sourcemap: false, logLevel: 'silent' });
    outputs = result.metafile.outputs;
  }, 60_000);

  const MAIN = 'clients/cli/src/main.ts';

  it('starts (dispatch, --help) without any service definition', () => {
    expect(servicesLoadedBy(MAIN)).toEqual([]);
  });

  it('runs `banger version` without any service definition (GetServerInfo only)', () => {
    expect(servicesLoadedBy(MAIN, 'clients/cli/src/commands/version.ts')).toEqual([]);
  });

  it('runs `vm list` and `vm show` with vmd\'s definition alone (loaded for their manifest entry)', () => {
    for (const command of ['vm-list', 'vm-show']) {
      expect(servicesLoadedBy(MAIN, `clients/cli/src/commands/${command}.ts`, 'packages/api/src/vm.ts'), command).toEqual(['vm/v1/vm_service.ts']);
    }
  });
});
