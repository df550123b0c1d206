import type { CreateVmCommand } from './create-request.js';
import type { Snapshot } from './snapshot.js';

const GIB = 1024 ** 3;

/** What a warm snapshot must have been taken of to serve a create: the image as it resolves now. */
export interface WarmImage {
  id: string;
  name: string;
  fingerprint: string;
  kernel: { name: string; version: string };
}

/**
 * The path a create takes and why, in the words its events and `vm show` use. `discard` lists
 * warm snapshots that can never serve a create again (their image changed, or they were saved
 * on another accelerator): the caller deletes them.
 */
export type CreatePath = { path: 'warm'; snapshot: Snapshot; reason: string; discard: Snapshot[] } | { path: 'cold'; reason: string; discard: Snapshot[] };

export type CreateShape = Pick<CreateVmCommand, 'memoryMib' | 'vcpus' | 'workDiskBytes'>;

/** `1024M/2vcpu/8G`: a shape as the path reasons name it. */
export function shapeLabel(s: CreateShape): string {
  return `${s.memoryMib}M/${s.vcpus}vcpu/${Math.round((s.workDiskBytes / GIB) * 100) / 100}G`;
}

/** The kernel id a snapshot row records for an image's kernel. */
export function kernelIdOf(kernel: { name: string; version: string }): string | null {
  return kernel.name === '' ? null : `${kernel.name}/${kernel.version}`;
}

/**
 * The request fields a restore from a warm snapshot cannot give: the clone starts with the
 * snapshot's kernel, keys, egress and forwarding, and the warm path writes no sync files. Any
 * of them sends the create down the cold path, with the field named, rather than being dropped.
 */
export function unhonourable(cmd: Pick<CreateVmCommand, 'cold' | 'kernel' | 'sshAuthorizedKeys' | 'egress' | 'autoForward' | 'syncFiles'>): string | undefined {
  if (cmd.cold === true) return '--cold';
  if (cmd.kernel !== '') return `--kernel ${cmd.kernel} (warm snapshots run the image's own kernel)`;
  if (cmd.sshAuthorizedKeys.length > 0) return '--ssh-key (extra keys are installed by a boot)';
  if (cmd.egress.mode !== 'allow' || cmd.egress.cidrs.length > 0 || cmd.egress.hostnames.length > 0) return `--egress ${cmd.egress.mode} (a warm clone starts with the default egress)`;
  if (!cmd.autoForward) return '--no-forward (a warm clone forwards its listeners)';
  if ((cmd.syncFiles ?? []).length > 0) return 'sync files (--sync or [[file_sync]]) are written by the cold path only';
  return undefined;
}

function sameShape(s: Snapshot, want: CreateShape): boolean {
  return s.memoryMib === want.memoryMib && s.vcpus === want.vcpus && s.workDiskGib * GIB === want.workDiskBytes;
}

function isStale(s: Snapshot, image: WarmImage): boolean {
  return s.imageId !== image.id || s.imageFingerprint !== image.fingerprint || s.kernelId !== kernelIdOf(image.kernel);
}

/**
 * Chooses between restoring a warm snapshot and booting: the newest ready warm snapshot of the
 * image's name and the create's shape, taken of the image as it is now and on this host's
 * accelerator. Pure, so every branch is unit-tested; the caller acts on `discard`.
 */
export function chooseCreatePath(cmd: Parameters<typeof unhonourable>[0] & CreateShape, image: WarmImage, snapshots: readonly Snapshot[], hostAccel: string): CreatePath {
  const shape = shapeLabel(cmd);
  const ofShape = snapshots.filter((s) => s.kind === 'warm' && s.state === 'ready' && s.imageName === image.name && sameShape(s, cmd));
  const stale = ofShape.filter((s) => isStale(s, image));
  const foreign = ofShape.filter((s) => !isStale(s, image) && s.files !== undefined && s.files.accel !== hostAccel);
  const usable = ofShape.filter((s) => !stale.includes(s) && !foreign.includes(s)).sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime());
  const discard = [...stale, ...foreign];
  const why = unhonourable(cmd);
  if (why !== undefined) return { path: 'cold', reason: `cold: ${why}`, discard };
  const best = usable[0];
  if (best !== undefined) return { path: 'warm', snapshot: best, reason: `warm: snapshot ${best.name} for image ${image.name} ${shape}`, discard };
  if (stale[0] !== undefined) return { path: 'cold', reason: `cold: warm snapshot ${stale[0].name} stale (image changed)`, discard };
  if (foreign[0] !== undefined) return { path: 'cold', reason: `cold: warm snapshot ${foreign[0].name} incompatible (saved under ${foreign[0].files?.accel ?? '?'}, this host runs ${hostAccel})`, discard };
  return { path: 'cold', reason: `cold: no warm snapshot for image ${image.name} ${shape}`, discard };
}
