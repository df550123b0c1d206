import { randomUUID } from 'node:crypto';
import { NotFoundError } from '@banger/runtime/errors';
import { StageRunner } from '@banger/runtime/ops';
import { validateKernelName } from '../../domain/refs.js';
import type { JsonObject } from '@banger/store';
import type { Kernel } from '../../domain/kernel.js';
import type { KernelInstaller, KernelRepo, KernelSource } from '../../ports/images.js';
import type { OperationHandle } from '@banger/operations';
import { serializeKernel } from '../serialize.js';

export interface PullKernelCommand {
  name: string;
}

export interface PullKernelDeps {
  kernels: KernelRepo;
  source: KernelSource;
  installer: Pick<KernelInstaller, 'installKernel'>;
}

/**
 * Fetches a catalog kernel (unprivileged: apt-get download, dpkg-deb -x), stages it with its
 * initramfs and records it. Pulling what is already installed verifies it and says so. Also
 * used by BuildImage as its `kernel` stage, which is why it can run inside another operation.
 */
export class PullKernel {
  constructor(private readonly deps: PullKernelDeps) {}

  /** An unknown catalog name is refused before any operation starts. */
  async preflight(name: string): Promise<void> {
    validateKernelName(name);
    if (!(await this.deps.source.catalog()).some((k) => k.name === name)) throw new NotFoundError('kernel', name, 'KERNEL_NOT_IN_CATALOG', { fields: { field: 'name' } });
  }

  async run(cmd: PullKernelCommand, op: OperationHandle): Promise<JsonObject> {
    await op.emit({ type: 'accepted', opId: op.opId, kind: 'kernel_pull', target: cmd.name });
    const { kernel, unchanged } = await this.pull(cmd.name, op, 'download');
    await op.emit({ type: 'result', result: { kernel: serializeKernel(kernel), unchanged } });
    return { targetId: kernel.id, kernel: kernel.name, version: kernel.packageVersion, unchanged };
  }

  /** The pull as one stage (named `stage`) of an operation, progress included. */
  async pull(name: string, op: OperationHandle, stage: string): Promise<{ kernel: Kernel; unchanged: boolean }> {
    const stages = new StageRunner(op.emit);
    let chain: Promise<void> = Promise.resolve();
    const staged = await stages.run(stage, `Pulling kernel ${name}`, async () => {
      const r = await this.deps.source.pull(name, {
        signal: op.signal,
        onProgress: (p) => {
          chain = chain.then(() =>
            op.emit({ type: 'progress', stage, done: p.done, total: p.total, unit: 'steps', message: p.detail ? `${p.step}: ${p.detail}` : p.step }).catch(() => undefined),
          );
        },
      });
      await chain;
      return r;
    });
    // Into privhelper's root-owned store, which checks every file against the manifest; only
    // kernels there boot. Idempotent, so an unchanged pull still heals a missing install.
    await stages.run('install', 'Installing the kernel into privhelper\'s store', () => this.deps.installer.installKernel(staged.kernel));
    const existing = await this.deps.kernels.findByName(name);
    if (existing && existing.fingerprint === staged.kernel.fingerprint) {
      await stages.skip('register', `kernel ${name} ${existing.packageVersion} already installed`);
      return { kernel: existing, unchanged: true };
    }
    const kernel = await stages.run('register', 'Recording the kernel', () => this.deps.kernels.save(staged.kernel, existing?.id ?? randomUUID()));
    return { kernel, unchanged: false };
  }
}
