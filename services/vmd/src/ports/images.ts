import type { GuestService } from '../domain/vm.js';

/** A managed image resolved to what booting a VM from it needs (absolute host paths). */
export interface ResolvedImage {
  id: string;
  name: string;
  fingerprint: string;
  rootfsPath: string;
  kernelPath: string;
  initrdPath: string;
  /** The kernel the paths belong to: the image's own or the one asked for. */
  kernel: { name: string; version: string };
  workSeedPath: string;
  workSeedFingerprint: string;
  /** PID 1 in the guest (init=). */
  initPath: string;
  kernelArgs: string[];
  services: GuestService[];
  /** The image's id in privhelper's store (CreateOverlay, CreateWorkDisk take it). */
  storeImage: string;
  /** The kernel in privhelper's store (LaunchHypervisor takes it). */
  storeKernel: { name: string; version: string };
}

/** imaged as vmd sees it. */
export interface ImageCatalog {
  /** `kernel` overrides the image's kernel by name ('' keeps it); imaged refuses one it has not pulled. */
  resolve(ref: string, kernel?: string): Promise<ResolvedImage>;
  /** Turns a stopped VM's root disk into a new managed image based on the VM's image. */
  promote(input: { vmId: string; name: string; baseImage: string }): Promise<{ id: string; name: string; fingerprint: string }>;
}
