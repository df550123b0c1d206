import type { helperv2 } from '@banger/api';
import { unary } from '@banger/runtime';
import type { RestoreVm } from '../../app/restore-vm.js';
import type { SuspendVm } from '../../app/suspend-vm.js';
import type { Hypervisor } from '../../domain/hypervisor/driver.js';
import type { SavedStateMeta } from '../../domain/hypervisor/saved-state.js';
import { validateVmId } from '../../domain/vmspec/spec.js';
import type { SavedStateStore } from '../store/saved-state.js';
import { launchRequestFromProto, toProcess } from './hypervisor-handlers.js';

export interface SavedStateHandlerDeps {
  hypervisor: () => Promise<Hypervisor>;
  suspend: SuspendVm;
  restore: RestoreVm;
  states: SavedStateStore;
  runVmsDir: string;
}

export function savedStateToProto(m: SavedStateMeta): helperv2.SavedState {
  const c = m.compat;
  return {
    vmId: m.vmId,
    sizeBytes: m.sizeBytes,
    sha256: m.sha256,
    savedAt: new Date(m.savedAt),
    saveDuration: { seconds: Math.floor(m.saveMs / 1000), nanos: (m.saveMs % 1000) * 1e6 },
    qemuVersion: c.qemuVersion,
    accel: c.accel,
    cpuModel: c.cpuModel,
    machine: c.machine,
    memoryMib: c.memoryMib,
    vcpus: c.vcpus,
    kernel: c.kernel,
    baseImage: c.baseImage,
  };
}

/** Pause, resume, suspend and restore: proto → use case → proto. */
export function savedStateHandlers(deps: SavedStateHandlerDeps): Record<string, unknown> {
  return {
    pauseHypervisor: unary(async (req: helperv2.PauseHypervisorRequest): Promise<helperv2.PauseHypervisorResponse> => ({ wasRunning: await (await deps.hypervisor()).pause(validateVmId(req.vmId)) })),
    resumeHypervisor: unary(async (req: helperv2.ResumeHypervisorRequest): Promise<helperv2.ResumeHypervisorResponse> => ({ wasPaused: await (await deps.hypervisor()).resume(validateVmId(req.vmId)) })),
    suspendHypervisor: unary(async (req: helperv2.SuspendHypervisorRequest): Promise<helperv2.SuspendHypervisorResponse> => ({ state: savedStateToProto(await deps.suspend.run(req.vmId)) })),
    restoreHypervisor: unary(async (req: helperv2.RestoreHypervisorRequest): Promise<helperv2.RestoreHypervisorResponse> => {
      const { handle, meta } = await deps.restore.run(launchRequestFromProto(req.spec));
      return { process: await toProcess(await deps.hypervisor(), handle, deps.runVmsDir), state: savedStateToProto(meta) };
    }),
    describeSavedState: unary(async (req: helperv2.DescribeSavedStateRequest): Promise<helperv2.DescribeSavedStateResponse> => {
      const meta = await deps.states.meta(validateVmId(req.vmId));
      return { state: meta === undefined ? undefined : savedStateToProto(meta) };
    }),
    discardSavedState: unary(async (req: helperv2.DiscardSavedStateRequest): Promise<helperv2.DiscardSavedStateResponse> => ({ discarded: await deps.states.discard(validateVmId(req.vmId)) })),
  };
}
