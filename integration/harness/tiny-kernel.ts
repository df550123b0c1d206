import { access, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { extractVmlinux } from '@banger/imagekit';
import { stageKernel } from '../../services/privhelper/src/testing/store-fixtures.js';
import { buildTinyGuest, TINYGUEST_CACHE, type TinyGuest } from './tinyguest.js';

/** The tiny guest's kernel as privhelper's kernel store names it. */
export const TINY_KERNEL = { name: 'tiny-guest', version: '1.0-test' } as const;

export interface StagedTinyKernel {
  readonly ref: { readonly name: string; readonly version: string };
  readonly guest: TinyGuest;
  /** `<state>/kernels/<name>/<version>/`, where imaged would have pulled it. */
  readonly dir: string;
}

/**
 * Stages the tiny guest where imaged stages a pulled kernel (`<stateDir>/kernels/<name>/<version>/`,
 * with a manifest listing vmlinux, initrd.img, vmlinuz and config by sha256 and size), so a
 * test installs it with InstallKernel exactly as production does. vmlinux is the ELF extracted
 * from the bzImage, as a pull makes it (QEMU microvm boots it through its PVH entry).
 */
export async function stageTinyKernel(stateDir: string, ref: StagedTinyKernel['ref'] = TINY_KERNEL): Promise<StagedTinyKernel> {
  const guest = await buildTinyGuest();
  const release = guest.kernelPackage.replace(/^linux-image-/, '');
  const vmlinux = path.join(TINYGUEST_CACHE, `vmlinux-${release}`);
  if (!(await access(vmlinux).then(() => true, () => false))) {
    await writeFile(`${vmlinux}.tmp`, await extractVmlinux(await readFile(guest.kernelPath)));
    await rename(`${vmlinux}.tmp`, vmlinux);
  }
  const dir = await stageKernel(
    path.join(stateDir, 'kernels'),
    ref,
    { vmlinux, initrd: guest.initrdPath, vmlinuz: guest.kernelPath, config: Buffer.from(`# tiny test guest on ${guest.kernelPackage}\n`) },
    { release },
  );
  return { ref, guest, dir };
}
