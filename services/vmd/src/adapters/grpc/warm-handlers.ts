import type { vmv1 } from '@banger/api';
import { streamOperation } from '@banger/operations';
import { serverStream } from '@banger/runtime';
import { validateCreate } from '../../domain/create-request.js';
import { templateName } from '../../app/warm-image.js';
import type { HandlerDeps } from './use-cases.js';

/** WarmImage: the request is checked like a create's (same bounds, same default image) before anything boots. */
export function warmHandlers(deps: HandlerDeps): Pick<vmv1.VmServiceServer, 'warmImage'> {
  const { useCases: uc, events } = deps;
  return {
    warmImage: serverStream<vmv1.WarmImageRequest, vmv1.WarmImageResponse>(async (req, ctx, send) => {
      const cmd = validateCreate(
        { name: templateName(), image: req.image, kernel: '', memoryMib: req.memoryMib, vcpus: req.vcpus, workDiskBytes: req.workDiskSizeBytes, noWait: req.noWait, sshAuthorizedKeys: [], hypervisor: 'qemu', cold: true },
        deps.bounds,
        deps.defaultImage,
      );
      await streamOperation(deps, ctx, { kind: 'image_warm', target: cmd.image, cancelOnDetach: false }, (op) => uc.warmImage.run(cmd, op), (e) => send({ event: events.stored(e) }));
    }),
  };
}
