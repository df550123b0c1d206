import { failureEvent, FailedPreconditionError, StageRunner, UnimplementedError, type OpEventSink } from '@banger/runtime';
import type { CreateVmCommand } from '../domain/create-request.js';
import type { HostHelper } from '../ports/host.js';
import type { ImageCatalog } from '../ports/images.js';

export interface CreateVmDeps {
  host: HostHelper;
  images: ImageCatalog;
}

/**
 * Creates a VM through named stages, each reported with its duration. The op id of the
 * operation is the dispatch op id of the CreateVm call, so the CLI, vmd's logs and
 * privhelper's logs all show one id.
 */
export class CreateVm {
  constructor(private readonly deps: CreateVmDeps) {}

  async execute(cmd: CreateVmCommand, opId: string, emit: OpEventSink): Promise<void> {
    await emit({ type: 'accepted', opId, kind: 'vm_create', target: cmd.name });
    const stages = new StageRunner(emit);
    try {
      await stages.run('preflight', 'host capable, image resolvable', async () => {
        const host = await this.deps.host.readiness();
        if (host.blockers.length > 0) {
          const first = host.blockers[0];
          throw new FailedPreconditionError('HOST_NOT_READY', `host cannot run VMs: ${host.blockers.map((b) => `${b.name}: ${b.detail}`).join('; ')}`, {
            fields: { check: first?.name, fix: first?.fix },
          });
        }
        await this.deps.images.resolve(cmd.image);
      });
      await stages.run('reserve', 'record the VM and allocate its address', async () => {
        throw new UnimplementedError('VM reservation and boot');
      });
    } catch (err) {
      await emit(failureEvent(err, opId));
      throw err;
    }
  }
}
