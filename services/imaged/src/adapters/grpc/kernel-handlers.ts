import { InvalidArgumentError } from '@banger/runtime/errors';
import type { imagev1 } from '@banger/api';
import { serverStream, unary } from '@banger/runtime';
import type { KernelQueries } from '../../app/kernels/kernel-queries.js';
import type { PullKernel } from '../../app/kernels/pull-kernel.js';
import type { OperationRunner } from '@banger/operations';
import type { OperationLog } from '@banger/operations';
import { storedImageEventToProto } from './events.js';
import { kernelListingToProto, kernelToProto } from './kernel-convert.js';
import { streamOperation } from '@banger/operations';

export interface KernelRpcDeps {
  runner: OperationRunner;
  operations: OperationLog;
  pullKernel: PullKernel;
  kernels: KernelQueries;
}

/** Kernel RPCs: PullKernel streams its durable operation; the rest read or delete rows. */
export function kernelHandlers(deps: KernelRpcDeps): Record<string, unknown> {
  return {
    pullKernel: serverStream<imagev1.PullKernelRequest, imagev1.PullKernelResponse>(async (req, ctx, send) => {
      // Refused, not dropped: every pull already re-verifies an installed version by checksum.
      if (req.force) throw new InvalidArgumentError('force', 'is not supported: a pull re-verifies an installed version by checksum and re-installs it; delete the kernel to download it again', 'FIELD_NOT_SUPPORTED');
      await deps.pullKernel.preflight(req.name);
      await streamOperation(deps, ctx, { kind: 'kernel_pull', target: req.name, cancelOnDetach: req.cancelOnDetach }, (op) => deps.pullKernel.run({ name: req.name }, op), (event) =>
        send({ event: storedImageEventToProto(event) }),
      );
    }),
    listKernels: unary(async (req: imagev1.ListKernelsRequest): Promise<imagev1.ListKernelsResponse> => ({
      kernels: (await deps.kernels.list(req.includeAvailable)).map(kernelListingToProto),
    })),
    getKernel: unary(async (req: imagev1.GetKernelRequest): Promise<imagev1.GetKernelResponse> => ({ kernel: kernelListingToProto(await deps.kernels.get(req.name)) })),
    deleteKernel: unary(async (req: imagev1.DeleteKernelRequest): Promise<imagev1.DeleteKernelResponse> => ({ kernel: kernelToProto(await deps.kernels.delete(req.name)) })),
  };
}
