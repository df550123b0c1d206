import { imagev1 } from '@banger/api';
import { InvalidArgumentError } from '@banger/runtime';
import type { GuestService, Image, InitMode } from '../../domain/image.js';
import type { ResolvedImage } from '../../app/images/resolve-image.js';
import type { RecipeListing } from '../../app/images/image-queries.js';

const INIT_TO_PROTO: Record<InitMode, imagev1.InitMode> = {
  systemd: imagev1.InitMode.INIT_MODE_SYSTEMD,
  minimal: imagev1.InitMode.INIT_MODE_MINIMAL,
};

export function initModeToProto(mode: InitMode): imagev1.InitMode {
  return INIT_TO_PROTO[mode];
}

/** UNSPECIFIED means "the recipe's"; anything unknown is the caller's mistake. */
export function initModeFromProto(mode: imagev1.InitMode, field = 'init_mode'): InitMode | undefined {
  if (mode === imagev1.InitMode.INIT_MODE_UNSPECIFIED) return undefined;
  const found = (Object.entries(INIT_TO_PROTO) as [InitMode, imagev1.InitMode][]).find(([, v]) => v === mode);
  if (!found) throw new InvalidArgumentError(field, `unknown init mode ${mode}`, 'INVALID_INIT_MODE');
  return found[0];
}

export function serviceToProto(s: GuestService): imagev1.ServiceSpec {
  return {
    name: s.name,
    port: s.port,
    scheme: s.port === 4096 || s.name === 'opencode' ? 'http' : 'tcp',
    secretEnv: s.secretEnv,
    readiness: {
      check: { $case: 'tcp', value: { port: s.readiness.port } },
      interval: { seconds: 1, nanos: 0 },
      timeout: { seconds: s.readiness.timeoutSeconds, nanos: 0 },
    },
  };
}

export function imageToProto(i: Image): imagev1.Image {
  return {
    id: i.id,
    name: i.name,
    recipe: i.recipe ?? '',
    fingerprint: i.fingerprint,
    initMode: initModeToProto(i.initMode),
    kernel: i.kernel.name,
    rootfsPath: i.paths.rootfs,
    rootfsSizeBytes: i.rootfsBytes,
    workSeedFingerprint: i.workSeedFingerprint ?? '',
    defaultServices: i.services.map(serviceToProto),
    state: imagev1.ImageState.IMAGE_STATE_READY,
    source: i.sourceVmId ? imagev1.ImageSource.IMAGE_SOURCE_PROMOTED : imagev1.ImageSource.IMAGE_SOURCE_RECIPE,
    promotedFromVm: i.sourceVmId ?? '',
    createdAt: i.createdAt,
    usedByVms: [],
  };
}

export function resolvedToProto(r: ResolvedImage): imagev1.ResolveImageResponse {
  return {
    image: imageToProto(r.image),
    rootfsPath: r.rootfsPath,
    kernelPath: r.kernelPath,
    initrdPath: r.initrdPath,
    workSeedPath: r.workSeedPath,
    workSeedFingerprint: r.workSeedFingerprint,
    fingerprint: r.fingerprint,
    initMode: initModeToProto(r.initMode),
    initPath: r.initPath,
    defaultServices: r.services.map(serviceToProto),
    kernel: r.kernel,
    kernelVersion: r.kernelVersion,
    storeImage: r.storeImage,
    kernelStoreVersion: r.kernelPackageVersion.replace(/:/g, '_'),
    kernelArgs: r.kernelArgs,
  };
}

export function recipeToProto(r: RecipeListing): imagev1.Recipe {
  return { name: r.recipe.name, description: r.recipe.description, initMode: initModeToProto(r.recipe.initMode), kernel: r.kernel, fingerprint: r.fingerprint };
}

