import { DEFAULT_EGRESS, validateEgress } from './egress.js';
import type { EgressPolicy } from './egress.js';
import { InvalidArgumentError } from '@banger/runtime/errors';
import { validateRef } from '@banger/runtime/ids';
import { validateVmName } from './names.js';
import { IMAGE_REF_RULE, KERNEL_REF_RULE } from './refs.js';
import { validateSshKeys } from './ssh-keys.js';
import { validateSyncFiles, type SyncFile } from './sync-files.js';
import type { Hypervisor } from './vm.js';

export interface Bounds {
  default: number;
  min: number;
  max: number;
}

export interface VmBounds {
  memoryMib: Bounds;
  vcpus: Bounds;
  workDiskGib: Bounds;
}

export interface CreateVmInput {
  name: string;
  image: string;
  /** Kernel override by name; '' means the image's kernel. */
  kernel: string;
  /** 0 means "use the configured default". */
  memoryMib: number;
  vcpus: number;
  /** Bytes; 0 means the configured default. */
  workDiskBytes: number;
  noWait: boolean;
  sshAuthorizedKeys: readonly string[];
  /** The hypervisor asked for, as the wire names it: 'unspecified', 'qemu', 'firecracker', or another label. */
  hypervisor: string;
  /** The wire's policy as labels (see egress.ts); undefined means the default, allow. */
  egress?: { mode: string; cidrs: readonly string[]; hostnames: readonly string[] } | undefined;
  /** Forward guest listeners to host loopback; undefined means yes. */
  autoForward?: boolean | undefined;
  /** Host files the client sent, written into the guest before services are awaited. */
  syncFiles?: readonly SyncFile[] | undefined;
  /** Boot even when a warm snapshot matches (`--cold`). */
  cold?: boolean | undefined;
}

export interface CreateVmCommand {
  name: string;
  image: string;
  kernel: string;
  memoryMib: number;
  vcpus: number;
  workDiskBytes: number;
  noWait: boolean;
  sshAuthorizedKeys: string[];
  hypervisor: Hypervisor;
  egress: EgressPolicy;
  autoForward: boolean;
  /** Empty or undefined: nothing to write. */
  syncFiles?: SyncFile[];
  /** Boot even when a warm snapshot matches; undefined is false. */
  cold?: boolean;
  /**
   * Guest RAM on a shareable memfd (VmSpec.sharedRam), so a snapshot of this VM is a template
   * clones map copy-on-write. Internal: set by WarmImage for its template VM, never from a request.
   */
  sharedRam?: boolean;
}

const GIB = 1024 ** 3;

function within(field: string, value: number, b: Bounds, unit: string): number {
  const v = value === 0 ? b.default : value;
  if (!Number.isInteger(v) || v < b.min || v > b.max) {
    throw new InvalidArgumentError(field, `must be between ${b.min} and ${b.max} ${unit}, got ${v}`, 'OUT_OF_BOUNDS', {
      fields: { min: b.min, max: b.max },
    });
  }
  return v;
}

function workDisk(bytes: number, b: Bounds): number {
  const v = bytes === 0 ? b.default * GIB : bytes;
  if (v < b.min * GIB || v > b.max * GIB || v % (1024 * 1024) !== 0) {
    throw new InvalidArgumentError('work_disk_size_bytes', `must be a whole number of MiB between ${b.min} and ${b.max} GiB, got ${v} bytes`, 'OUT_OF_BOUNDS', {
      fields: { min_gib: b.min, max_gib: b.max },
    });
  }
  return v;
}

/** QEMU is the hypervisor this vmd runs; asking for another is refused rather than ignored. */
function hypervisorOf(asked: string): Hypervisor {
  if (asked === 'unspecified' || asked === 'qemu') return 'qemu';
  throw new InvalidArgumentError('hypervisor', `${asked} is not available: this vmd runs VMs under QEMU only`, 'HYPERVISOR_UNSUPPORTED', { fields: { supported: 'qemu' } });
}

/**
 * Validates a create request against the configured bounds; nothing is created before this
 * passes. Every field of the request is either used or refused here.
 */
export function validateCreate(input: CreateVmInput, bounds: VmBounds, defaultImage: string): CreateVmCommand {
  return {
    name: validateVmName(input.name),
    image: input.image === '' ? defaultImage : validateRef(input.image, 'image', IMAGE_REF_RULE),
    kernel: validateRef(input.kernel, 'kernel', KERNEL_REF_RULE, { allowEmpty: true }),
    memoryMib: within('memory_mib', input.memoryMib, bounds.memoryMib, 'MiB'),
    vcpus: within('vcpus', input.vcpus, bounds.vcpus, 'vCPUs'),
    workDiskBytes: workDisk(input.workDiskBytes, bounds.workDiskGib),
    noWait: input.noWait,
    sshAuthorizedKeys: validateSshKeys(input.sshAuthorizedKeys),
    hypervisor: hypervisorOf(input.hypervisor),
    egress: input.egress === undefined ? { ...DEFAULT_EGRESS } : validateEgress(input.egress),
    autoForward: input.autoForward ?? true,
    syncFiles: validateSyncFiles(input.syncFiles ?? []),
    cold: input.cold ?? false,
  };
}
