import * as imagev1 from '@banger/api/image';
import { enumLabel, formatAge, formatBytes, formatTime } from './format.js';
import { renderFields } from './table.js';

export const IMAGE_TABLE_HEADERS = ['NAME', 'STATE', 'SOURCE', 'INIT', 'KERNEL', 'SIZE', 'AGE', 'USED BY'] as const;

export function imageRow(img: imagev1.Image, now: Date): string[] {
  return [
    img.name,
    enumLabel(imagev1.imageStateToJSON(img.state), 'IMAGE_STATE_'),
    enumLabel(imagev1.imageSourceToJSON(img.source), 'IMAGE_SOURCE_'),
    enumLabel(imagev1.initModeToJSON(img.initMode), 'INIT_MODE_'),
    img.kernel || '-',
    img.rootfsSizeBytes ? formatBytes(img.rootfsSizeBytes) : '-',
    formatAge(img.createdAt, now),
    String(img.usedByVms.length),
  ];
}

export function imageDetails(img: imagev1.Image): string {
  let out = renderFields([
    ['id', img.id],
    ['name', img.name],
    ['state', enumLabel(imagev1.imageStateToJSON(img.state), 'IMAGE_STATE_')],
    ['source', enumLabel(imagev1.imageSourceToJSON(img.source), 'IMAGE_SOURCE_')],
    ['recipe', img.recipe],
    ['promoted from', img.promotedFromVm],
    ['fingerprint', img.fingerprint],
    ['init', enumLabel(imagev1.initModeToJSON(img.initMode), 'INIT_MODE_')],
    ['kernel', img.kernel],
    ['rootfs', img.rootfsPath],
    ['size', img.rootfsSizeBytes ? formatBytes(img.rootfsSizeBytes) : undefined],
    ['work seed', img.workSeedFingerprint],
    ['created', formatTime(img.createdAt)],
    ['used by', img.usedByVms.join(', ')],
  ]);
  if (img.defaultServices.length > 0) {
    out += `services\n${img.defaultServices.map((s) => `  ${s.name.padEnd(10)} ${s.scheme || 'tcp'}:${s.port}\n`).join('')}`;
  }
  return out;
}

export const KERNEL_TABLE_HEADERS = ['NAME', 'VERSION', 'STATE', 'HYPERVISORS', 'USED BY'] as const;

export function kernelRow(k: imagev1.Kernel): string[] {
  return [k.name, k.version || '-', enumLabel(imagev1.kernelStateToJSON(k.state), 'KERNEL_STATE_'), k.hypervisors.join(',') || '-', k.usedByImages.join(',') || '-'];
}

export function kernelDetails(k: imagev1.Kernel): string {
  const art = (a: imagev1.KernelArtifact | undefined) => (a ? `${a.path}${a.sizeBytes ? ` (${formatBytes(a.sizeBytes)})` : ''}${a.sha256 ? ` sha256:${a.sha256.slice(0, 16)}` : ''}` : undefined);
  return renderFields([
    ['name', k.name],
    ['version', k.version],
    ['state', enumLabel(imagev1.kernelStateToJSON(k.state), 'KERNEL_STATE_')],
    ['package', k.package ? `${k.package}${k.packageVersion ? ` ${k.packageVersion}` : ''}` : undefined],
    ['hypervisors', k.hypervisors.join(', ')],
    ['vmlinux', art(k.vmlinux)],
    ['bzimage', art(k.bzimage)],
    ['initrd', art(k.initrd)],
    ['modules', k.modulesDir],
    ['installed', formatTime(k.installedAt)],
    ['used by', k.usedByImages.join(', ')],
  ]);
}
