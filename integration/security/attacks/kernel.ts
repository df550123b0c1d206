import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { KeptArtifact } from '@banger/imagekit';
import type { Attacker } from '../lib/attacker.js';
import { fileNameOf, kernelManifest, type KernelFiles } from '../lib/build-inputs.js';

const KEPT: readonly KeptArtifact[] = ['vmlinux', 'initrd', 'vmlinuz', 'config'];

/** Small stand-in artifacts (InstallKernel checks bytes and hashes, not that they boot). */
export function smallKernelFiles(tag = randomBytes(4).toString('hex')): KernelFiles {
  const part = (k: string): Buffer => Buffer.concat([Buffer.from(`${k} of ${tag}\n`), randomBytes(4096)]);
  return { vmlinux: part('vmlinux'), initrd: part('initrd'), vmlinuz: part('vmlinuz'), config: part('config') };
}

export interface PlantedKernel {
  readonly ref: { name: string; version: string };
  readonly dir: string;
  file(k: KeptArtifact): string;
}

/**
 * A kernel dir as imaged would stage it (`<staging>/<name>/<version>/`), written by the
 * attacker with its own credentials: the files, and a manifest it wrote (exactly imaged's
 * unless `manifest` is given). `skip` leaves artifacts out so a test can put something else there.
 */
export async function plantKernel(
  a: Attacker,
  stagingDir: string,
  o: { name: string; version?: string; files?: KernelFiles; manifest?: unknown; skip?: readonly KeptArtifact[] },
): Promise<PlantedKernel> {
  const version = o.version ?? '1';
  const files = o.files ?? smallKernelFiles();
  const dir = path.join(stagingDir, o.name, version);
  await a.mkdir(dir, 0o750);
  for (const k of KEPT) if (!(o.skip ?? []).includes(k)) await a.writeFile(path.join(dir, fileNameOf(k)), files[k]);
  await a.writeFile(path.join(dir, 'manifest.json'), JSON.stringify(o.manifest ?? kernelManifest(o.name, version, files)));
  return { ref: { name: o.name, version }, dir, file: (k) => path.join(dir, fileNameOf(k)) };
}
