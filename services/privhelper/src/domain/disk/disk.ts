/** Work disk sizes are whole MiB so resize2fs never has to round. */
export const DISK_SIZE_ALIGN = 1024 * 1024;

export interface DiskInfo {
  readonly path: string;
  readonly format: 'qcow2' | 'raw';
  readonly sizeBytes: number;
  /** False when the disk already existed and was returned unchanged (idempotent retry). */
  readonly created: boolean;
}
