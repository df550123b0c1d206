import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import path from 'node:path';
import { ImageKitError } from '../errors.js';
import { sha256 } from '../hash.js';
import { DEFAULT_IMAGES_DIR } from '../layout.js';
import { validateRecipeName } from '../paths.js';
import { canonicalJson } from './canonical.js';

export type InitMode = 'systemd' | 'minimal';

export interface ServiceReadiness {
  kind: 'tcp';
  port: number;
  timeoutSeconds: number;
}

/** A long-running service the image declares; vmd waits for its readiness probe. */
export interface ServiceSpec {
  name: string;
  command: string[];
  workdir?: string;
  /** Env var that receives the per-VM secret (banger.secret.NAME= or generated on first boot). */
  secretEnv?: string;
  readiness: ServiceReadiness;
}

export interface NpmArtifact {
  kind: 'npm';
  package: string;
  version: string;
  file: string;
  dest: string;
  mode: string;
  /** sha256 of the extracted file: the build refuses anything else the registry hands out. */
  sha256: string;
}

export interface RecipeDoc {
  schema: 1;
  description: string;
  bootstrap: { kind: 'debootstrap'; suite: string; variant: string; components: string[]; mirror: string };
  packages: string[];
  initMode: InitMode;
  init: Record<InitMode, string>;
  kernelArgs: string[];
  artifacts: NpmArtifact[];
  services: ServiceSpec[];
  systemd: { enable: string[]; mask: string[]; defaultTarget: string };
  rootfs: { headroomMiB: number };
  workSeed: { sizeMiB: number; label: string };
}

export interface RecipeFile {
  /** Path inside the guest, e.g. /sbin/banger-init. */
  path: string;
  mode: number;
  sha256: string;
  symlink?: string;
}

export interface Recipe {
  name: string;
  dir: string;
  doc: RecipeDoc;
  files: RecipeFile[];
}

/** What of a kernel a rootfs depends on (its identity, not its location). */
export interface KernelIdentity {
  name: string;
  release: string;
  packageVersion: string;
}

/** Bumped when the build steps change in a way that must invalidate earlier images. */
export const BUILDER_VERSION = 1;

const UNIT_RE = /^[A-Za-z0-9@._-]+\.(service|timer|target|socket|mount|path)$/;
const SERVICE_RE = /^[a-z][a-z0-9-]{0,30}$/;
const PKG_RE = /^[a-z0-9][a-z0-9+.-]+$/;

function bad(recipe: string, field: string, why: string): ImageKitError {
  return new ImageKitError('INVALID_ARGUMENT', 'BAD_RECIPE', `recipe ${recipe}: ${field} ${why}`, { recipe, field });
}

/** Validates the parts of a recipe that reach a command line or a guest path. */
export function validateRecipeDoc(name: string, d: RecipeDoc): RecipeDoc {
  if (d.schema !== 1) throw bad(name, 'schema', 'must be 1');
  if (d.bootstrap?.kind !== 'debootstrap') throw bad(name, 'bootstrap.kind', 'must be debootstrap');
  if (!/^[a-z]+$/.test(d.bootstrap.suite)) throw bad(name, 'bootstrap.suite', 'is invalid');
  if (!['minbase', 'buildd', 'fakechroot'].includes(d.bootstrap.variant)) throw bad(name, 'bootstrap.variant', 'is invalid');
  if (d.bootstrap.mirror !== 'auto' && !/^https?:\/\/[A-Za-z0-9./_-]+$/.test(d.bootstrap.mirror)) {
    throw bad(name, 'bootstrap.mirror', 'must be "auto" or an http(s) URL');
  }
  if (!d.bootstrap.components.every((c) => /^[a-z-]+$/.test(c))) throw bad(name, 'bootstrap.components', 'is invalid');
  if (!Array.isArray(d.packages) || !d.packages.every((p) => PKG_RE.test(p))) throw bad(name, 'packages', 'has an invalid name');
  if (d.initMode !== 'systemd' && d.initMode !== 'minimal') throw bad(name, 'initMode', 'must be systemd or minimal');
  for (const u of [...d.systemd.enable, ...d.systemd.mask, d.systemd.defaultTarget]) {
    if (!UNIT_RE.test(u)) throw bad(name, 'systemd', `has invalid unit ${JSON.stringify(u)}`);
  }
  for (const s of d.services) {
    if (!SERVICE_RE.test(s.name)) throw bad(name, 'services.name', `is invalid: ${JSON.stringify(s.name)}`);
    if (!Array.isArray(s.command) || s.command.length === 0) throw bad(name, `services.${s.name}.command`, 'is empty');
    if (s.secretEnv !== undefined && !/^[A-Z_][A-Z0-9_]*$/.test(s.secretEnv)) throw bad(name, `services.${s.name}.secretEnv`, 'is invalid');
    const r = s.readiness;
    if (r?.kind !== 'tcp' || !Number.isInteger(r.port) || r.port < 1 || r.port > 65535) {
      throw bad(name, `services.${s.name}.readiness`, 'must be a tcp probe with a valid port');
    }
  }
  for (const a of d.artifacts) {
    if (a.kind !== 'npm' || !PKG_RE.test(a.package) || !/^[0-9][A-Za-z0-9.+-]*$/.test(a.version)) {
      throw bad(name, 'artifacts', 'needs an npm package and an exact version');
    }
    if (!a.dest.startsWith('/') || a.dest.split('/').includes('..') || a.file.split('/').includes('..')) {
      throw bad(name, 'artifacts', 'has an unsafe path');
    }
    if (typeof a.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(a.sha256)) throw bad(name, 'artifacts.sha256', 'must pin the file with 64 hex digits');
  }
  return d;
}

async function listFiles(root: string, rel = ''): Promise<RecipeFile[]> {
  const out: RecipeFile[] = [];
  const entries = await readdir(path.join(root, rel)).catch(() => [] as string[]);
  for (const e of entries.sort()) {
    const r = `${rel}/${e}`;
    const full = path.join(root, r);
    const st = await lstat(full);
    if (st.isDirectory()) out.push(...(await listFiles(root, r)));
    else if (st.isSymbolicLink()) out.push({ path: r, mode: 0o777, sha256: '', symlink: await readlink(full) });
    else if (st.isFile()) out.push({ path: r, mode: st.mode & 0o7777, sha256: sha256(await readFile(full)) });
  }
  return out;
}

/** Names of the recipes that exist, i.e. the allow-list for build requests. */
export async function listRecipes(imagesDir = DEFAULT_IMAGES_DIR): Promise<string[]> {
  const names = await readdir(path.join(imagesDir, 'recipes')).catch(() => [] as string[]);
  const out: string[] = [];
  for (const n of names.sort()) {
    try {
      validateRecipeName(n);
      if ((await lstat(path.join(imagesDir, 'recipes', n, 'recipe.json'))).isFile()) out.push(n);
    } catch {
      continue;
    }
  }
  return out;
}

/** Loads an allow-listed recipe: a name that is not a recipe directory is NOT_FOUND, a bad name INVALID_ARGUMENT. */
export async function loadRecipe(name: string, imagesDir = DEFAULT_IMAGES_DIR): Promise<Recipe> {
  validateRecipeName(name);
  if (!(await listRecipes(imagesDir)).includes(name)) {
    throw new ImageKitError('NOT_FOUND', 'RECIPE_NOT_FOUND', `no recipe named ${JSON.stringify(name)}`, { recipe: name });
  }
  const dir = path.join(imagesDir, 'recipes', name);
  let doc: RecipeDoc;
  try {
    doc = JSON.parse(await readFile(path.join(dir, 'recipe.json'), 'utf8')) as RecipeDoc;
  } catch (e) {
    throw bad(name, 'recipe.json', `cannot be parsed: ${(e as Error).message}`);
  }
  return { name, dir, doc: validateRecipeDoc(name, doc), files: await listFiles(path.join(dir, 'files')) };
}

/**
 * Content address of an image: recipe document (key order irrelevant), guest files, the sorted
 * package list, the kernel identity and the builder version. Equal fingerprint ⇒ rebuild is a no-op.
 */
export function recipeFingerprint(recipe: Pick<Recipe, 'name' | 'doc' | 'files'>, kernel: KernelIdentity): string {
  return sha256(
    canonicalJson({
      builder: BUILDER_VERSION,
      name: recipe.name,
      doc: { ...recipe.doc, packages: [...recipe.doc.packages].sort() },
      files: [...recipe.files].sort((a, b) => a.path.localeCompare(b.path)),
      kernel: { name: kernel.name, release: kernel.release, packageVersion: kernel.packageVersion },
    }),
  );
}
