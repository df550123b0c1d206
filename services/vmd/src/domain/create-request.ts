import { InvalidArgumentError } from '@banger/runtime';
import { validateVmName } from './names.js';

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
  /** 0 means "use the configured default". */
  memoryMib: number;
  vcpus: number;
  /** Bytes; 0 means the configured default. */
  workDiskBytes: number;
  noWait: boolean;
}

export interface CreateVmCommand {
  name: string;
  image: string;
  memoryMib: number;
  vcpus: number;
  workDiskBytes: number;
  noWait: boolean;
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

/** Validates a create request against the configured bounds; nothing is created before this passes. */
export function validateCreate(input: CreateVmInput, bounds: VmBounds, defaultImage: string): CreateVmCommand {
  return {
    name: validateVmName(input.name),
    image: input.image === '' ? defaultImage : input.image,
    memoryMib: within('memory_mib', input.memoryMib, bounds.memoryMib, 'MiB'),
    vcpus: within('vcpus', input.vcpus, bounds.vcpus, 'vCPUs'),
    workDiskBytes: workDisk(input.workDiskBytes, bounds.workDiskGib),
    noWait: input.noWait,
  };
}
