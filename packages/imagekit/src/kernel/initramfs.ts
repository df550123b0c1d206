import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { ImageKitError } from '../errors.js';
import { run } from '@banger/proc';
import { toolOptions } from '../tool-options.js';
import { buildCpio } from './cpio.js';

const norm = (m: string): string => m.replace(/-/g, '_');

/** Reads depmod's modules.dep into name → {path, deps} (names normalised to underscores). */
export function parseModulesDep(text: string): Map<string, { path: string; deps: string[] }> {
  const out = new Map<string, { path: string; deps: string[] }>();
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const p = line.slice(0, colon).trim();
    const deps = line.slice(colon + 1).trim().split(/\s+/).filter(Boolean);
    out.set(norm(path.basename(p).replace(/\.ko(\.(xz|zst|gz))?$/, '')), { path: p, deps });
  }
  return out;
}

/**
 * Orders the requested modules so every dependency is inserted first (virtio_ring before virtio,
 * ...), keeping the requested order otherwise. Built-in modules are dropped; unknown ones reported.
 */
export function resolveModuleOrder(
  wanted: readonly string[],
  dep: Map<string, { path: string; deps: string[] }>,
  builtin: ReadonlySet<string>,
): { paths: string[]; missing: string[] } {
  const byPath = new Map([...dep.values()].map((v) => [v.path, v]));
  const paths: string[] = [];
  const done = new Set<string>();
  const missing: string[] = [];
  const visit = (p: string): void => {
    if (done.has(p)) return;
    done.add(p);
    const entry = byPath.get(p);
    for (const d of [...(entry?.deps ?? [])].reverse()) visit(d);
    paths.push(p);
  };
  for (const w of wanted) {
    const e = dep.get(norm(w));
    if (e) visit(e.path);
    else if (!builtin.has(norm(w))) missing.push(w);
  }
  return { paths, missing };
}

export interface InitramfsInput {
  /** Root of the extracted kernel package (contains lib/modules/RELEASE). */
  packageRoot: string;
  release: string;
  modules: readonly string[];
  initScript: string;
  busybox: string;
  /** Where the module subset is staged (becomes DIR/lib/modules/RELEASE). */
  modulesOut: string;
  initrdOut: string;
  signal?: AbortSignal | undefined;
}

/** Builds the gzip'd newc initramfs (busybox + module subset + /init) and stages the module subset. */
export async function buildInitramfs(input: InitramfsInput): Promise<{ modules: string[]; missing: string[] }> {
  const { packageRoot, release } = input;
  const srcMods = path.join(packageRoot, 'lib/modules', release);
  await run('depmod', ['-b', packageRoot, release], toolOptions(input.signal));
  const dep = parseModulesDep(await readFile(path.join(srcMods, 'modules.dep'), 'utf8'));
  const builtinText = await readFile(path.join(srcMods, 'modules.builtin'), 'utf8').catch(() => '');
  const builtin = new Set(
    builtinText
      .split('\n')
      .filter(Boolean)
      .map((l) => norm(path.basename(l).replace(/\.ko$/, ''))),
  );
  const { paths, missing } = resolveModuleOrder(input.modules, dep, builtin);
  if (paths.length === 0) {
    throw new ImageKitError('FAILED_PRECONDITION', 'NO_MODULES', `none of the initramfs modules exist in ${release}`);
  }
  const dstMods = path.join(input.modulesOut, 'lib/modules', release);
  for (const p of paths) {
    await mkdir(path.dirname(path.join(dstMods, p)), { recursive: true });
    await copyFile(path.join(srcMods, p), path.join(dstMods, p));
  }
  for (const f of ['modules.builtin', 'modules.builtin.modinfo', 'modules.order']) {
    await copyFile(path.join(srcMods, f), path.join(dstMods, f)).catch(() => undefined);
  }
  await run('depmod', ['-b', input.modulesOut, release], toolOptions(input.signal));

  const tree = await mkdtemp(path.join(path.dirname(input.initrdOut), '.initramfs-'));
  try {
    await mkdir(path.join(tree, 'bin'), { recursive: true });
    await mkdir(path.join(tree, 'etc'), { recursive: true });
    await copyFile(input.busybox, path.join(tree, 'bin/busybox'));
    await chmod(path.join(tree, 'bin/busybox'), 0o755);
    await symlink('busybox', path.join(tree, 'bin/sh'));
    await copyFile(input.initScript, path.join(tree, 'init'));
    await chmod(path.join(tree, 'init'), 0o755);
    await writeFile(path.join(tree, 'etc/banger-modules'), `${paths.join('\n')}\n`);
    await run('cp', ['-a', path.join(input.modulesOut, 'lib'), tree], toolOptions(input.signal));
    await mkdir(path.join(tree, 'dev'), { recursive: true });
    const cpio = await buildCpio(tree, [
      { path: 'dev/console', type: 'c', major: 5, minor: 1, mode: 0o600 },
      { path: 'dev/null', type: 'c', major: 1, minor: 3, mode: 0o666 },
    ]);
    await writeFile(input.initrdOut, gzipSync(cpio, { level: 6 }));
  } finally {
    await rm(tree, { recursive: true, force: true });
  }
  return { modules: paths, missing };
}
