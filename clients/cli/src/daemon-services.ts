import type * as helperv2 from '@banger/api/helper';
import type * as imagev1 from '@banger/api/image';
import type * as vmv1 from '@banger/api/vm';

export type DaemonName = 'vmd' | 'imaged' | 'privhelper';

export const ALL_DAEMONS: readonly DaemonName[] = ['vmd', 'imaged', 'privhelper'];

/**
 * The gRPC service definitions a command's clients are built from. Each one pulls in its whole
 * service's generated code, so the dispatcher loads only those of the daemons a command says it
 * calls (`daemons` in ./commands/manifest.ts; every daemon when it says nothing).
 */
export interface ServiceDefinitions {
  vmd?: typeof vmv1.VmServiceService;
  imaged?: typeof imagev1.ImageServiceService;
  privhelper?: typeof helperv2.HelperServiceService;
}

export async function loadServices(daemons: readonly DaemonName[]): Promise<ServiceDefinitions> {
  const [vmd, imaged, privhelper] = await Promise.all([
    daemons.includes('vmd') ? import('@banger/api/vm').then((m) => m.VmServiceService) : undefined,
    daemons.includes('imaged') ? import('@banger/api/image').then((m) => m.ImageServiceService) : undefined,
    daemons.includes('privhelper') ? import('@banger/api/helper').then((m) => m.HelperServiceService) : undefined,
  ]);
  return { ...(vmd ? { vmd } : {}), ...(imaged ? { imaged } : {}), ...(privhelper ? { privhelper } : {}) };
}
