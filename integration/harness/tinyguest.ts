import { execFile } from 'node:child_process';
import { access, mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';

const run = promisify(execFile);

export const TINYGUEST_CACHE = '/var/cache/banger/test/tinyguest';
export const READY_MARKER = 'TINYGUEST-READY';
export const STOP_MARKER = 'TINYGUEST-STOPPING';
export const FLOOD_DONE_MARKER = 'TINYGUEST-FLOOD-DONE';

export interface TinyGuest {
  /** bzImage of Debian's cloud kernel; QEMU 7.2 microvm boots it directly via -kernel. */
  readonly kernelPath: string;
  readonly initrdPath: string;
  readonly kernelPackage: string;
}

/**
 * PID 1 of the test guest: prints the ready marker and its cmdline to the console, lets the
 * kernel turn ctrl-alt-del into SIGINT for it (ctrl-alt-del=0), and powers off on SIGINT.
 * `sleep & wait` keeps the shell interruptible so the trap runs at once. With
 * banger.tiny_flood=N on the cmdline it first writes N numbered 100-byte lines to the console
 * (a guest flooding its serial port), then the flood-done marker.
 */
const INIT = `#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sys /sys
echo 0 > /proc/sys/kernel/ctrl-alt-del
case " $(/bin/busybox cat /proc/cmdline) " in
  *" banger.tiny_ignore_cad=1 "*) trap '' INT ;;
  *) trap '/bin/busybox echo ${STOP_MARKER}; /bin/busybox poweroff -f' INT ;;
esac
echo "${READY_MARKER} cmdline=[$(/bin/busybox cat /proc/cmdline)]"
for a in $(/bin/busybox cat /proc/cmdline); do case "$a" in banger.tiny_flood=*) flood=\${a#banger.tiny_flood=} ;; esac; done
if [ -n "$flood" ]; then
  /bin/busybox awk -v n="$flood" 'BEGIN { for (i = 0; i < n; i++) printf "FLOOD %08d %085d\\n", i, 0 }'
  echo "${FLOOD_DONE_MARKER} n=$flood"
fi
while :; do /bin/busybox sleep 1 & wait $!; done
`;

/** Why the tiny guest cannot be built here, or null when it can. */
export async function tinyGuestUnavailableReason(): Promise<string | null> {
  for (const bin of ['/bin/busybox', '/usr/bin/dpkg-deb', '/usr/bin/apt-get', '/usr/bin/apt-cache']) {
    if (!(await exists(bin))) return `${bin} missing (apt-get install busybox-static dpkg apt)`;
  }
  if (process.getuid?.() !== 0) return 'needs root to apt-get download into the cache';
  return null;
}

/** Downloads (once) the current Debian cloud kernel and builds a busybox initramfs into the cache dir. */
export async function buildTinyGuest(cacheDir = TINYGUEST_CACHE): Promise<TinyGuest> {
  await mkdir(cacheDir, { recursive: true });
  const { kernelPath, kernelPackage } = await fetchKernel(cacheDir);
  const initrdPath = path.join(cacheDir, 'initrd.cpio.gz');
  const cpio = await buildInitramfs();
  await writeFile(`${initrdPath}.tmp`, gzipSync(cpio));
  await rename(`${initrdPath}.tmp`, initrdPath);
  return { kernelPath, initrdPath, kernelPackage };
}

async function fetchKernel(cacheDir: string): Promise<{ kernelPath: string; kernelPackage: string }> {
  const { stdout } = await run('apt-cache', ['depends', 'linux-image-cloud-amd64']);
  const pkg = /Depends: (linux-image-[0-9][^\s]*-cloud-amd64)/.exec(stdout)?.[1];
  if (pkg === undefined) throw new Error('cannot resolve linux-image-cloud-amd64 to a kernel package');
  const version = pkg.replace(/^linux-image-/, '');
  const kernelPath = path.join(cacheDir, `vmlinuz-${version}`);
  if (await exists(kernelPath)) return { kernelPath, kernelPackage: pkg };
  const dl = path.join(cacheDir, 'dl');
  await rm(dl, { recursive: true, force: true });
  await mkdir(dl, { recursive: true });
  await run('apt-get', ['download', pkg], { cwd: dl });
  const deb = (await readdir(dl)).find((f) => f.endsWith('.deb'));
  if (deb === undefined) throw new Error(`apt-get download ${pkg} produced no .deb`);
  await run('dpkg-deb', ['-x', path.join(dl, deb), path.join(dl, 'x')]);
  await rename(path.join(dl, 'x', 'boot', `vmlinuz-${version}`), kernelPath);
  await rm(dl, { recursive: true, force: true });
  return { kernelPath, kernelPackage: pkg };
}

interface CpioEntry {
  readonly name: string;
  readonly mode: number;
  readonly data?: Buffer;
  readonly rdev?: readonly [number, number];
}

async function buildInitramfs(): Promise<Buffer> {
  const busybox = await readFile('/bin/busybox');
  const entries: CpioEntry[] = [
    { name: 'bin', mode: 0o040755 },
    { name: 'dev', mode: 0o040755 },
    { name: 'proc', mode: 0o040755 },
    { name: 'sys', mode: 0o040755 },
    { name: 'dev/console', mode: 0o020600, rdev: [5, 1] },
    { name: 'dev/null', mode: 0o020666, rdev: [1, 3] },
    { name: 'bin/busybox', mode: 0o100755, data: busybox },
    { name: 'bin/sh', mode: 0o120777, data: Buffer.from('busybox') },
    { name: 'init', mode: 0o100755, data: Buffer.from(INIT) },
  ];
  return cpioNewc(entries);
}

/** SVR4 "newc" cpio, the format the kernel unpacks as an initramfs. */
export function cpioNewc(entries: readonly CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  const pad4 = (n: number): Buffer => Buffer.alloc((4 - (n % 4)) % 4);
  const hex = (n: number): string => n.toString(16).padStart(8, '0');
  let ino = 1;
  const add = (e: CpioEntry): void => {
    const data = e.data ?? Buffer.alloc(0);
    const name = Buffer.from(`${e.name}\0`);
    const fields = [ino++, e.mode, 0, 0, 1, 0, data.length, 0, 0, e.rdev?.[0] ?? 0, e.rdev?.[1] ?? 0, name.length, 0];
    const header = Buffer.from(`070701${fields.map(hex).join('')}`);
    parts.push(header, name, pad4(header.length + name.length), data, pad4(data.length));
  };
  for (const e of entries) add(e);
  add({ name: 'TRAILER!!!', mode: 0 });
  return Buffer.concat(parts);
}

async function exists(p: string): Promise<boolean> {
  return access(p).then(() => true, () => false);
}

export async function fileSize(p: string): Promise<number> {
  return (await stat(p)).size;
}
