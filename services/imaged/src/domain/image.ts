/** The guest's PID 1: systemd, or banger's small init (both are baked into every image). */
export type InitMode = 'systemd' | 'minimal';
export const INIT_MODES: readonly InitMode[] = ['systemd', 'minimal'];

/** A service the guest starts by default; vmd waits for its TCP readiness probe. */
export interface GuestService {
  name: string;
  port: number;
  /** Env var through which the service gets its per-VM secret; '' when none. */
  secretEnv: string;
  readiness: { kind: 'tcp'; port: number; timeoutSeconds: number };
}

/** Files a VM boots from, all absolute. */
export interface ImagePaths {
  /** The image's own directory (content-addressed by the builder). */
  dir: string;
  rootfs: string;
  workSeed: string;
  /** Staged kernel the image was built against. */
  kernelDir: string;
  vmlinux: string;
  initrd: string;
}

/** The kernel an image boots by default, as identified when it was built. */
export interface ImageKernel {
  id: string | null;
  name: string;
  release: string;
  packageVersion: string;
}

/** A managed image: a bootable rootfs plus what vmd needs to create VMs from it. */
export interface Image {
  id: string;
  name: string;
  /** Recipe it was built from; null for promoted images. */
  recipe: string | null;
  fingerprint: string;
  initMode: InitMode;
  inits: Record<InitMode, string>;
  kernelArgs: string[];
  kernel: ImageKernel;
  paths: ImagePaths;
  rootfsBytes: number;
  /** Undefined for images recorded before the field existed (filled lazily by ResolveImage). */
  workSeedFingerprint: string | undefined;
  services: GuestService[];
  sourceVmId: string | null;
  createdAt: Date;
  lastUsedAt: Date | null;
}

/** The image name when nothing is asked for: what `banger vm create` boots by default. */
export const DEFAULT_IMAGE = 'debian-bookworm';

/** Name under which an image displaced by a newer build of the same name is kept. */
export function displacedName(name: string, fingerprint: string): string {
  return `${name}-${fingerprint.slice(0, 8)}`;
}

const IMAGE_NAME_RE = /^[a-z0-9][a-z0-9._-]{0,62}$/;

/** Image names double as CLI arguments and log fields: keep them short and shell-safe. */
export function isValidImageName(name: string): boolean {
  return IMAGE_NAME_RE.test(name);
}
