export const SAVED_STATE_SCHEMA = 1;

/**
 * What a saved state can only be restored on: QEMU's migration stream holds device state for
 * one QEMU version, accelerator, CPU model and machine type, and RAM for one memory size and
 * vCPU count; the guest inside booted one kernel on disks over one image. Any difference is
 * refused before QEMU is started.
 */
export interface SavedStateCompat {
  readonly qemuVersion: string;
  readonly accel: string;
  readonly cpuModel: string;
  readonly machine: string;
  readonly memoryMib: number;
  readonly vcpus: number;
  readonly kernel: string;
  readonly baseImage: string;
  readonly workDisk: boolean;
  readonly mac: string;
}

export interface SavedStateMeta {
  readonly schema: number;
  readonly vmId: string;
  readonly sizeBytes: number;
  readonly sha256: string;
  readonly savedAt: string;
  readonly saveMs: number;
  readonly compat: SavedStateCompat;
}

/** The first field that differs between what a state was saved on and what would restore it. */
export function compatMismatch(saved: Partial<SavedStateCompat> | undefined, now: SavedStateCompat): { what: string; saved: string; now: string } | undefined {
  for (const key of Object.keys(now) as (keyof SavedStateCompat)[]) {
    const a = saved?.[key];
    if (a !== now[key]) return { what: key, saved: a === undefined ? '(unrecorded)' : String(a), now: String(now[key]) };
  }
  return undefined;
}

/** The CPU model QEMU is given per accelerator (argv.ts), recorded with the state. */
export function cpuModelFor(accel: string): string {
  return accel === 'kvm' ? 'host' : 'max';
}

/** The compat record of a VM launched from `spec` over `baseImage` on this host. */
export function compatOf(spec: { memoryMib: number; vcpus: number; kernel: { name: string; version: string }; workDisk: boolean; mac?: string | undefined }, baseImage: string, host: { accel: string; qemuVersion: string }): SavedStateCompat {
  return {
    qemuVersion: host.qemuVersion,
    accel: host.accel,
    cpuModel: cpuModelFor(host.accel),
    machine: 'microvm',
    memoryMib: spec.memoryMib,
    vcpus: spec.vcpus,
    kernel: `${spec.kernel.name}/${spec.kernel.version}`,
    baseImage,
    workDisk: spec.workDisk,
    mac: spec.mac ?? '',
  };
}
