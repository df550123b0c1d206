import { imagev1 } from '@banger/api';
import { describe, expect, it } from 'vitest';
import { sampleImage } from '../../testing/fakes.js';
import { imageToProto, initModeFromProto, resolvedToProto, serviceToProto } from './image-convert.js';

describe('image converters', () => {
  it('an image as the wire sees it', () => {
    const p = imageToProto(sampleImage());
    expect(p).toMatchObject({
      name: 'debian-bookworm',
      recipe: 'debian-bookworm',
      initMode: imagev1.InitMode.INIT_MODE_MINIMAL,
      kernel: 'debian-bookworm-cloud',
      rootfsPath: '/state/images/debian-bookworm-0123456789abcdef/rootfs.ext4',
      state: imagev1.ImageState.IMAGE_STATE_READY,
      source: imagev1.ImageSource.IMAGE_SOURCE_RECIPE,
      promotedFromVm: '',
    });
    expect(imageToProto(sampleImage({ recipe: null, sourceVmId: 'vm-1', workSeedFingerprint: undefined }))).toMatchObject({
      recipe: '',
      source: imagev1.ImageSource.IMAGE_SOURCE_PROMOTED,
      promotedFromVm: 'vm-1',
      workSeedFingerprint: '',
    });
  });

  it('a service keeps its tcp readiness probe, timeout and secret env (what vmd waits on)', () => {
    expect(serviceToProto({ name: 'opencode', port: 4096, secretEnv: 'OPENCODE_SERVER_PASSWORD', readiness: { kind: 'tcp', port: 4096, timeoutSeconds: 180 } })).toEqual({
      name: 'opencode',
      port: 4096,
      scheme: 'http',
      secretEnv: 'OPENCODE_SERVER_PASSWORD',
      readiness: { check: { $case: 'tcp', value: { port: 4096 } }, interval: { seconds: 1, nanos: 0 }, timeout: { seconds: 180, nanos: 0 } },
    });
  });

  it('init mode: unspecified means the recipe default, unknown values are refused', () => {
    expect(initModeFromProto(imagev1.InitMode.INIT_MODE_UNSPECIFIED)).toBeUndefined();
    expect(initModeFromProto(imagev1.InitMode.INIT_MODE_SYSTEMD)).toBe('systemd');
    expect(() => initModeFromProto(42 as imagev1.InitMode)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', reason: 'INVALID_INIT_MODE' }) as Error);
  });

  it('ResolveImage response carries every path and the init path', () => {
    const image = sampleImage();
    const r = resolvedToProto({
      image,
      rootfsPath: image.paths.rootfs,
      kernelPath: image.paths.vmlinux,
      initrdPath: image.paths.initrd,
      workSeedPath: image.paths.workSeed,
      workSeedFingerprint: '9'.repeat(32),
      fingerprint: image.fingerprint,
      initMode: 'minimal',
      initPath: '/sbin/banger-init',
      kernelArgs: [],
      services: image.services,
      kernel: 'debian-bookworm-cloud',
      storeImage: 'debian-bookworm-0123', kernelPackageVersion: '6.1.1-1', kernelVersion: '6.1.0-1-cloud-amd64',
    });
    expect(r).toMatchObject({ kernelPath: image.paths.vmlinux, initrdPath: image.paths.initrd, initPath: '/sbin/banger-init', kernelVersion: '6.1.0-1-cloud-amd64' });
    expect(r.defaultServices).toHaveLength(1);
  });
});
