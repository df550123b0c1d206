import { helperv1 } from '@banger/api';
import { ServiceClient } from '@banger/runtime';
import type { HostHelper, HostReadiness } from '../ports/host.js';

/** privhelper over its Unix socket; the current op id travels with every call. */
export class HelperClient implements HostHelper {
  private readonly client: ServiceClient<typeof helperv1.HelperServiceService>;

  constructor(socketPath: string) {
    this.client = new ServiceClient(helperv1.HelperServiceService, socketPath);
  }

  async readiness(): Promise<HostReadiness> {
    const res = await this.client.unary('probeHost', { deep: false }, { timeoutMs: 30_000 });
    const caps = res.capabilities;
    return {
      accel: caps?.accel ?? '',
      blockers: (caps?.checks ?? [])
        .filter((c) => c.status === helperv1.CheckStatus.CHECK_STATUS_FAIL)
        .map((c) => ({ name: c.name, detail: c.detail, fix: c.fix })),
    };
  }

  close(): void {
    this.client.close();
  }
}
