import type { commonv1 } from '@banger/api';
import type { OperationLog, OperationRunner } from '@banger/operations';
import type { CollectGarbage } from '../../app/collect-garbage.js';
import type { StreamVmConsole } from '../../app/console.js';
import type { CreateVm } from '../../app/create.js';
import type { DeleteVm } from '../../app/delete.js';
import type { ExecVm } from '../../app/exec.js';
import type { GetVm } from '../../app/get.js';
import type { KillVm } from '../../app/kill.js';
import type { PauseVm } from '../../app/pause.js';
import type { ResumeVm } from '../../app/resume.js';
import type { SuspendVm } from '../../app/suspend.js';
import type { ListVms } from '../../app/list.js';
import type { GetVmPorts } from '../../app/ports.js';
import type { PromoteVm } from '../../app/promote.js';
import type { PruneVms } from '../../app/prune.js';
import type { ResizeWorkDisk } from '../../app/resize.js';
import type { RestartVm } from '../../app/restart.js';
import type { SetVmEgress } from '../../app/set-egress.js';
import type { StartVm } from '../../app/start.js';
import type { GetVmStats } from '../../app/stats.js';
import type { StopVm } from '../../app/stop.js';
import type { StreamExecVm } from '../../app/stream-exec.js';
import type { TouchVm } from '../../app/touch.js';
import type { ForwardPort } from '../../app/forward-port.js';
import type { OpenTunnel } from '../../app/open-tunnel.js';
import type { SetAutoForward } from '../../app/set-auto-forward.js';
import type { UnforwardPort } from '../../app/unforward-port.js';
import type { UploadFiles } from '../../app/upload-files.js';
import type { DownloadFiles } from '../../app/download-files.js';
import type { SnapshotVm } from '../../app/snapshot.js';
import type { ListSnapshots } from '../../app/list-snapshots.js';
import type { GetSnapshot } from '../../app/get-snapshot.js';
import type { DeleteSnapshot } from '../../app/delete-snapshot.js';
import type { PruneSnapshots } from '../../app/prune-snapshots.js';
import type { CreateVmFromSnapshot } from '../../app/create-from-snapshot.js';
import type { WarmImage } from '../../app/warm-image.js';
import type { ForkVm } from '../../app/fork.js';
import type { VmBounds } from '../../domain/create-request.js';
import type { VmEvents } from './events.js';
import type { VmView } from './vm-convert.js';

/** vmd's use cases, one per RPC of VmService, keyed by the RPC's handler name. */
export interface VmUseCases {
  createVm: CreateVm;
  startVm: StartVm;
  stopVm: StopVm;
  restartVm: RestartVm;
  killVm: KillVm;
  pauseVm: PauseVm;
  resumeVm: ResumeVm;
  suspendVm: SuspendVm;
  deleteVm: DeleteVm;
  pruneVms: PruneVms;
  getVm: GetVm;
  listVms: ListVms;
  touchVm: TouchVm;
  resizeWorkDisk: ResizeWorkDisk;
  setVmEgress: SetVmEgress;
  promoteVm: PromoteVm;
  execVm: ExecVm;
  streamExecVm: StreamExecVm;
  getVmPorts: GetVmPorts;
  getVmStats: GetVmStats;
  streamVmConsole: StreamVmConsole;
  collectGarbage: CollectGarbage;
  openTunnel: OpenTunnel;
  forwardPort: ForwardPort;
  unforwardPort: UnforwardPort;
  setAutoForward: SetAutoForward;
  uploadFiles: UploadFiles;
  downloadFiles: DownloadFiles;
  snapshotVm: SnapshotVm;
  listSnapshots: ListSnapshots;
  getSnapshot: GetSnapshot;
  deleteSnapshot: DeleteSnapshot;
  pruneSnapshots: PruneSnapshots;
  createVmFromSnapshot: CreateVmFromSnapshot;
  warmImage: WarmImage;
  forkVm: ForkVm;
}

/** What the handlers convert with and hand work to. */
export interface HandlerDeps {
  useCases: VmUseCases;
  runner: OperationRunner;
  operations: OperationLog;
  view: VmView;
  events: VmEvents;
  bounds: VmBounds;
  defaultImage: string;
  /** Probes vmd's database for GetServerInfo (doctor's database check). */
  database?: () => Promise<commonv1.DatabaseStatus>;
}
