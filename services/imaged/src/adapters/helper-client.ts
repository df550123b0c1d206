import { helperv1 } from '@banger/api';
import { InternalError, ServiceClient } from '@banger/runtime';
import type { InitMode } from '../domain/image.js';
import type { RootfsBuilder, RootfsProgress } from '../ports/images.js';

const GUEST_INIT: Record<InitMode, helperv1.GuestInit> = {
  systemd: helperv1.GuestInit.GUEST_INIT_SYSTEMD,
  minimal: helperv1.GuestInit.GUEST_INIT_MINIMAL,
};

/**
 * privhelper's BuildRootfs over its Unix socket. The op id of the operation travels with the
 * call; aborting `signal` cancels the stream, which privhelper turns into an aborted build.
 */
export class HelperRootfsBuilder implements RootfsBuilder {
  private readonly client: ServiceClient<typeof helperv1.HelperServiceService>;

  constructor(socketPath: string) {
    this.client = new ServiceClient(helperv1.HelperServiceService, socketPath);
  }

  async build(
    req: { recipe: string; imagesDir: string; kernelModulesDir: string; initMode: InitMode },
    opts: { signal: AbortSignal; onProgress: (p: RootfsProgress) => Promise<void> },
  ): Promise<{ dir: string }> {
    const stream = this.client.serverStream(
      'buildRootfs',
      helperv1.BuildRootfsRequest.fromPartial({ recipe: req.recipe, outputPath: req.imagesDir, modulesDir: req.kernelModulesDir, init: GUEST_INIT[req.initMode] }),
      { signal: opts.signal },
    );
    let dir: string | undefined;
    for await (const msg of stream) {
      const ev = msg.event;
      if (ev?.$case === 'progress') await opts.onProgress({ step: ev.value.stage, done: ev.value.done, total: ev.value.total, message: ev.value.message ? `${ev.value.stage}: ${ev.value.message}` : ev.value.stage });
      else if (ev?.$case === 'result') dir = ev.value.outputPath;
    }
    if (!dir) throw new InternalError('privhelper ended BuildRootfs without a result');
    return { dir };
  }

  close(): void {
    this.client.close();
  }
}
