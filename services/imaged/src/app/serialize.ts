import type { Image } from '../domain/image.js';
import type { Kernel } from '../domain/kernel.js';

/**
 * Images and kernels as JSON inside stored operation events (result bodies). Dates become ISO
 * strings; the gRPC edge turns them back with `imageFromJson` / `kernelFromJson`.
 */
export function serializeImage(image: Image): Record<string, unknown> {
  return JSON.parse(JSON.stringify(image)) as Record<string, unknown>;
}

export function serializeKernel(kernel: Kernel): Record<string, unknown> {
  return JSON.parse(JSON.stringify(kernel)) as Record<string, unknown>;
}

function date(v: unknown): Date {
  return typeof v === 'string' || typeof v === 'number' ? new Date(v) : new Date(0);
}

export function imageFromJson(o: Record<string, unknown>): Image {
  const image = o as unknown as Image;
  return { ...image, createdAt: date(o['createdAt']), lastUsedAt: o['lastUsedAt'] ? date(o['lastUsedAt']) : null };
}

export function kernelFromJson(o: Record<string, unknown>): Kernel {
  return { ...(o as unknown as Kernel), installedAt: date(o['installedAt']) };
}
