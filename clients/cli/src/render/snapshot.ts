import type { vmv1 } from '@banger/api';
import { formatAge, formatBytes, formatDuration, formatTime } from './format.js';
import { renderFields } from './table.js';

export const SNAPSHOT_TABLE_HEADERS = ['NAME', 'KIND', 'STATE', 'VM', 'IMAGE', 'MEMORY', 'SIZE', 'AGE', 'CLONES'] as const;

const pauseMs = (s: vmv1.Snapshot): number => (s.pauseDuration ? s.pauseDuration.seconds * 1000 + Math.floor(s.pauseDuration.nanos / 1e6) : 0);

export function snapshotRow(s: vmv1.Snapshot, now: Date): string[] {
  return [s.name, s.kind || 'named', s.state, s.sourceVmName, s.imageId.slice(0, 12), `${s.memoryMib}M`, s.sizeBytes ? formatBytes(s.sizeBytes) : '-', formatAge(s.createdAt, now), String(s.clones.length)];
}

export function snapshotDetails(s: vmv1.Snapshot): string {
  return renderFields([
    ['id', s.id],
    ['name', s.name],
    ['kind', s.kind === 'warm' ? 'warm (a default vm create of this image and shape restores it; banger image warm replaces it)' : s.kind || 'named'],
    ['state', s.state],
    ['vm', `${s.sourceVmName} (${s.sourceVmId})`],
    ['image', s.imageId],
    ['kernel', s.kernelId],
    ['shape', `${s.vcpus} vCPU, ${s.memoryMib} MiB, work disk ${s.workDiskGib} GiB`],
    ['size', s.sizeBytes ? `${formatBytes(s.sizeBytes)} on disk (state ${formatBytes(s.stateBytes)})` : undefined],
    ['state sha256', s.stateSha256],
    ['paused for', s.state === 'ready' ? formatDuration(pauseMs(s)) : undefined],
    ['restores on', s.qemuVersion ? `QEMU ${s.qemuVersion}, ${s.accel}` : undefined],
    ['created', formatTime(s.createdAt)],
    ['clones', s.clones.join(', ')],
  ]);
}

/** The line a finished `vm snapshot` prints. */
export function snapshotSummary(s: vmv1.Snapshot, elapsedMs: number): string {
  return `snapshot ${s.name} of ${s.sourceVmName} ready in ${formatDuration(elapsedMs)} (VM paused ${formatDuration(pauseMs(s))}, ${formatBytes(s.sizeBytes)} on disk)`;
}
