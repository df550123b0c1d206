export interface ImageService {
  name: string;
  port: number;
  /** How readiness is probed in the guest. */
  readiness: 'tcp' | 'none';
  timeoutSeconds: number;
  /** Environment variable the service reads its per-VM secret from, if any. */
  secretEnv: string;
}

/** A managed image resolved to what booting a VM from it needs (absolute host paths). */
export interface ResolvedImage {
  id: string;
  name: string;
  fingerprint: string;
  rootfsPath: string;
  kernelPath: string;
  initrdPath: string;
  workSeedPath: string;
  workSeedFingerprint: string;
  /** PID 1 in the guest (init=). */
  initPath: string;
  kernelArgs: string[];
  services: ImageService[];
  /** The image's id in privhelper's store. */
  storeImage: string;
  /** The kernel in privhelper's store. */
  kernel: { name: string; version: string };
}

/** imaged as vmd sees it. */
export interface ImageCatalog {
  resolve(ref: string): Promise<ResolvedImage>;
  /** Turns a stopped VM's root disk into a new managed image based on the VM's image. */
  promote(input: { vmId: string; name: string; baseImage: string }): Promise<{ id: string; name: string; fingerprint: string }>;
}
