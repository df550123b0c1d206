/** One staged file of an installed kernel. */
export interface KernelFile {
  path: string;
  sha256: string;
  sizeBytes: number;
}

/** An installed guest kernel with its initramfs (the newest version pulled under its name). */
export interface Kernel {
  id: string;
  name: string;
  /** Kernel release, e.g. 6.1.0-28-cloud-amd64. */
  release: string;
  package: string;
  packageVersion: string;
  hypervisors: string[];
  fingerprint: string;
  dir: string;
  modulesDir: string;
  vmlinux: KernelFile;
  vmlinuz: KernelFile;
  initrd: KernelFile;
  installedAt: Date;
}

/** A kernel the checked-in catalog offers. */
export interface CatalogKernel {
  name: string;
  description: string;
  package: string;
  hypervisors: string[];
}
