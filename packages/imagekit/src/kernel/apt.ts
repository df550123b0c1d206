import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { ImageKitError } from '../errors.js';
import { isProcError, run } from '@banger/proc';
import { toolOptions } from '../tool-options.js';

export interface ResolvedKernelPackage {
  /** The versioned image package, e.g. linux-image-6.1.0-56-cloud-amd64. */
  package: string;
  version: string;
  /** Kernel release (uname -r), e.g. 6.1.0-56-cloud-amd64. */
  release: string;
}

const IMAGE_RE = /^linux-image-(\d+\.\d+\.\d+-\d+-[a-z0-9-]+?)(-unsigned)?$/;

/** Parses the first stanza of `apt-cache show` output into a field map. */
export function parseStanza(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  let key = '';
  for (const line of text.split('\n')) {
    if (line === '') {
      if (Object.keys(out).length > 0) break;
      continue;
    }
    if (/^\s/.test(line) && key) {
      out[key] += `\n${line.trim()}`;
      continue;
    }
    const i = line.indexOf(':');
    if (i > 0) {
      key = line.slice(0, i);
      out[key] = line.slice(i + 1).trim();
    }
  }
  return out;
}

/** Follows a flavour metapackage (linux-image-cloud-amd64) to the versioned image package it pulls in. */
export function resolveFromStanza(stanza: Record<string, string>): ResolvedKernelPackage {
  const pkg = stanza['Package'] ?? '';
  const version = stanza['Version'] ?? '';
  const own = IMAGE_RE.exec(pkg);
  if (own?.[1]) return { package: pkg, version, release: own[1] };
  for (const alt of (stanza['Depends'] ?? '').split(',')) {
    const m = /^\s*(linux-image-[^\s(|]+)\s*(?:\(\s*=\s*([^)\s]+)\s*\))?/.exec(alt.split('|')[0] ?? '');
    const name = m?.[1];
    const rel = name ? IMAGE_RE.exec(name) : null;
    if (name && rel?.[1]) return { package: name, version: m?.[2] ?? version, release: rel[1] };
  }
  throw new ImageKitError('FAILED_PRECONDITION', 'KERNEL_UNRESOLVABLE', `${pkg} ${version} depends on no versioned kernel image`, {
    package: pkg,
  });
}

/**
 * apt's view of the archive. The system's (default) needs root to refresh; an unprivileged
 * daemon (imaged as banger under systemd) keeps its own package lists and download cache in
 * `privateDir` instead, which `apt-get update` can fill without root.
 */
export interface AptState {
  privateDir?: string | undefined;
}

/** `-o` options pointing apt at a private state dir (none for the system's). */
export async function aptOptions(state: AptState = {}): Promise<string[]> {
  const dir = state.privateDir;
  if (!dir) return [];
  await mkdir(path.join(dir, 'lists', 'partial'), { recursive: true });
  await mkdir(path.join(dir, 'cache', 'archives', 'partial'), { recursive: true });
  return ['-o', `Dir::State::Lists=${path.join(dir, 'lists')}`, '-o', `Dir::Cache=${path.join(dir, 'cache')}`];
}

/** Refreshes the package lists apt reads (the private ones when the state says so). */
export async function aptUpdate(state: AptState, signal?: AbortSignal): Promise<void> {
  await run('apt-get', [...(await aptOptions(state)), 'update', '-q'], toolOptions(signal));
}

/** Asks apt which concrete kernel package the catalog's package name currently means. */
export async function resolveKernelPackage(
  pkg: string,
  version: string | undefined,
  signal?: AbortSignal,
  state: AptState = {},
): Promise<ResolvedKernelPackage> {
  const spec = version === undefined ? pkg : `${pkg}=${version}`;
  let out: string;
  try {
    out = (await run('apt-cache', [...(await aptOptions(state)), 'show', '--no-all-versions', spec], toolOptions(signal))).stdout;
  } catch (e) {
    if (isProcError(e, 'TOOL_FAILED')) {
      throw new ImageKitError('UNAVAILABLE', 'KERNEL_PACKAGE_UNKNOWN', `apt does not know ${spec} (run apt-get update?)`, {
        package: spec,
      }, { cause: e });
    }
    throw e;
  }
  return resolveFromStanza(parseStanza(out));
}

/** Downloads one package into `dir`; apt checks it against the signed repository metadata. */
export async function aptDownload(pkg: string, version: string, dir: string, signal?: AbortSignal, state: AptState = {}): Promise<void> {
  try {
    await run('apt-get', [...(await aptOptions(state)), 'download', '-q', `${pkg}=${version}`], toolOptions(signal, { cwd: dir }));
  } catch (e) {
    if (isProcError(e, 'TOOL_FAILED')) {
      throw new ImageKitError('UNAVAILABLE', 'KERNEL_DOWNLOAD_FAILED', `cannot download ${pkg}=${version}: ${e.message}`, {
        package: pkg,
      }, { cause: e });
    }
    throw e;
  }
}
