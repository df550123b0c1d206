import { descriptorSetPath, serviceNames, vmv1 } from '@banger/api';
import { connectSocketPath, loadConfig, type BangerConfig } from '@banger/config';
import { OPERATION_RETENTION_MS, OperationRunner, schedulePruning } from '@banger/operations';
import { createLogger, MetricsRegistry, notifyService, operationMetricsRecorder, runGrpcDaemon, setRootLogger } from '@banger/runtime';
import { probeDb } from '@banger/store';
import { QemuGuestAgent } from './adapters/agent/guest-agent.js';
import { FileConsoleLogs } from './adapters/console-logs.js';
import { VmEvents } from './adapters/grpc/events.js';
import type { VmUseCases } from './adapters/grpc/use-cases.js';
import { VmView } from './adapters/grpc/vm-convert.js';
import { vmServiceImplementation } from './adapters/grpc/vm-service.js';
import { HelperClient } from './adapters/helper-client.js';
import { ImagedClient } from './adapters/imaged-client.js';
import { ensureSshKey } from './adapters/ssh-key.js';
import { openVmdState, type VmdState } from './adapters/state.js';
import { ProcStats } from './adapters/stats/proc-stats.js';
import { PgVmRepo } from './adapters/vm-repo.js';
import type { BootDeps } from './app/boot-stages.js';
import { CollectGarbage } from './app/collect-garbage.js';
import { reconcileAtStart, startupRetry } from './app/reconcile-at-start.js';
import { StreamVmConsole } from './app/console.js';
import { CreateVm } from './app/create.js';
import { DeleteVm } from './app/delete.js';
import { ExecVm } from './app/exec.js';
import { GetVm } from './app/get.js';
import { Janitor } from './app/janitor.js';
import { KillVm } from './app/kill.js';
import { PauseVm } from './app/pause.js';
import { ResumeVm } from './app/resume.js';
import { SuspendVm } from './app/suspend.js';
import { ListVms } from './app/list.js';
import { GetVmPorts } from './app/ports.js';
import { PromoteVm } from './app/promote.js';
import { PruneVms } from './app/prune.js';
import { Reconcile } from './app/reconcile.js';
import { ResizeWorkDisk } from './app/resize.js';
import { SetVmEgress } from './app/set-egress.js';
import { RestartVm } from './app/restart.js';
import { StartVm } from './app/start.js';
import { GetVmStats } from './app/stats.js';
import { StopVm } from './app/stop.js';
import { StreamExecVm } from './app/stream-exec.js';
import { TouchVm } from './app/touch.js';
import { VmLocks } from './app/vm-locks.js';
import { ForwardUpkeep } from './app/auto-forward.js';
import { ForwardPort } from './app/forward-port.js';
import { OpenTunnel } from './app/open-tunnel.js';
import { SetAutoForward } from './app/set-auto-forward.js';
import { UnforwardPort } from './app/unforward-port.js';
import { SnapshotVm } from './app/snapshot.js';
import { ListSnapshots } from './app/list-snapshots.js';
import { GetSnapshot } from './app/get-snapshot.js';
import { DeleteSnapshot } from './app/delete-snapshot.js';
import { PruneSnapshots } from './app/prune-snapshots.js';
import { CreateVmFromSnapshot } from './app/create-from-snapshot.js';
import { ForkVm } from './app/fork.js';
import { PgSnapshotRepo } from './adapters/snapshot-repo.js';
import { HelperSnapshots } from './adapters/helper-snapshots.js';
import type { SnapshotHost, SnapshotRepository } from './ports/snapshots.js';
import { LoopbackForwarder } from './adapters/forward/loopback-forwarder.js';
import { HelperGuestConnector } from './adapters/guest-connect-client.js';
import { TcpGuestFiles } from './adapters/files/tcp-guest-files.js';
import { UploadFiles } from './app/upload-files.js';
import { DownloadFiles } from './app/download-files.js';
import { WarmCreate } from './app/warm-create.js';
import { WarmImage } from './app/warm-image.js';
import type { PortForwards } from './ports/forwards.js';
import type { GuestConnector } from './ports/guest-connect.js';
import { parseSubnet } from './domain/addressing.js';
import { VM_STATES } from './domain/vm.js';
import { noStageGate, type StageGate } from './ports/operation.js';

const DRAIN_MS = 10_000;
/** How often forwards are brought in line with the VMs' states and guest listeners. */
const FORWARD_UPKEEP_MS = 3000;

export interface VmdOptions {
  /** Consulted after every create/start stage; production passes none (see ports/operation.ts). */
  stageGate?: StageGate;
}

/** Builds every use case over its ports: the composition root, and nothing else. */
export function vmUseCases(
  deps: BootDeps &
    Pick<ConstructorParameters<typeof CreateVm>[0], 'images' | 'locks'> &
    Pick<ConstructorParameters<typeof CollectGarbage>[0], 'operations' | 'graceMs'> & { stats: ProcStats; forwards: PortForwards; connector: GuestConnector; snapshots: SnapshotRepository; snapshotHost: SnapshotHost },
): VmUseCases {
  const stopVm = new StopVm(deps);
  const startVm = new StartVm(deps);
  const deleteVm = new DeleteVm(deps);
  const files = new TcpGuestFiles({ agent: deps.agent, connector: deps.connector });
  const createVmFromSnapshot = new CreateVmFromSnapshot(deps);
  const createVm = new CreateVm({ ...deps, files, warm: new WarmCreate({ ...deps, fromSnapshot: createVmFromSnapshot }) });
  const snapshotVm = new SnapshotVm(deps);
  return {
    createVm,
    startVm,
    stopVm,
    restartVm: new RestartVm({ stop: stopVm, start: startVm }),
    killVm: new KillVm(deps),
    pauseVm: new PauseVm(deps),
    resumeVm: new ResumeVm(deps),
    suspendVm: new SuspendVm(deps),
    deleteVm,
    pruneVms: new PruneVms({ vms: deps.vms, deleteVm }),
    getVm: new GetVm(deps),
    listVms: new ListVms(deps),
    touchVm: new TouchVm(deps),
    resizeWorkDisk: new ResizeWorkDisk(deps),
    setVmEgress: new SetVmEgress(deps),
    promoteVm: new PromoteVm(deps),
    execVm: new ExecVm(deps),
    streamExecVm: new StreamExecVm(deps),
    getVmPorts: new GetVmPorts(deps),
    getVmStats: new GetVmStats(deps),
    streamVmConsole: new StreamVmConsole(deps),
    collectGarbage: new CollectGarbage(deps),
    openTunnel: new OpenTunnel(deps),
    forwardPort: new ForwardPort(deps),
    unforwardPort: new UnforwardPort(deps),
    setAutoForward: new SetAutoForward(deps),
    uploadFiles: new UploadFiles({ vms: deps.vms, files }),
    downloadFiles: new DownloadFiles({ vms: deps.vms, files }),
    snapshotVm,
    listSnapshots: new ListSnapshots(deps),
    getSnapshot: new GetSnapshot(deps),
    deleteSnapshot: new DeleteSnapshot(deps),
    pruneSnapshots: new PruneSnapshots(deps),
    createVmFromSnapshot,
    warmImage: new WarmImage({ ...deps, create: createVm, snapshot: snapshotVm, deleteVm }),
    forkVm: new ForkVm(deps, snapshotVm, createVmFromSnapshot),
  };
}

/**
 * vmd: opens its state, wires its adapters to its use cases, serves VmService on its socket,
 * then reconciles with the host in the background. `options` exist for test harnesses only.
 */
export async function runVmd(options: VmdOptions = {}): Promise<void> {
  let config: BangerConfig;
  try {
    config = loadConfig({ env: process.env });
  } catch (err) {
    createLogger({ service: 'vmd' }).fatal({ err }, 'start-up failed');
    process.exit(1);
  }
  const logger = createLogger({ service: 'vmd', level: config.log.level });
  setRootLogger(logger);
  logger.info({ config: config.source, socket: config.vmd.socket }, 'vmd starting');

  let state: VmdState;
  try {
    state = await openVmdState(config, logger);
  } catch (err) {
    logger.fatal({ err }, 'start-up failed');
    process.exit(1);
  }

  const helper = new HelperClient(config.privhelper.socket);
  const snapshotHost = new HelperSnapshots(config.privhelper.socket);
  const snapshots = new PgSnapshotRepo(state.db);
  const images = new ImagedClient(config.imaged.socket);
  const vms = new PgVmRepo(state.db);
  const ssh = await ensureSshKey(config.paths.stateDir);
  const view = new VmView({ sshKeyPath: ssh.privateKeyPath });
  const connector = new HelperGuestConnector(connectSocketPath(config));
  const forwards = new LoopbackForwarder(connector, logger);
  const stats = new ProcStats(async () => (await vms.list({ states: ['running'] })).flatMap((v) => (v.pid ? [{ id: v.id, pid: v.pid }] : [])));
  stats.start();
  const useCases = vmUseCases({
    vms,
    host: helper,
    agent: new QemuGuestAgent(),
    consoleLogs: new FileConsoleLogs(),
    bridge: config.network.bridge,
    subnet: parseSubnet(config.network.cidr),
    sshPublicKey: ssh.publicKey,
    // Under TCG a Debian guest needs 10-40 s to answer its agent on 2 busy cores; opencode's
    // first start is slower still. A create that misses these bounds rolls back.
    timeouts: { agentMs: config.vm.agentTimeoutSeconds * 1000, serviceMs: config.vm.servicesTimeoutSeconds * 1000 },
    gate: options.stageGate ?? noStageGate,
    images,
    locks: new VmLocks(),
    stats,
    operations: state.operations,
    graceMs: config.vmd.gcGraceSeconds * 1000,
    forwards,
    connector,
    snapshots,
    snapshotHost,
  });
  const forwardUpkeep = new ForwardUpkeep({ vms, forwards, ports: useCases.getVmPorts });
  const janitor = new Janitor(useCases.collectGarbage, { intervalMs: config.vmd.gcIntervalSeconds * 1000, retryMs: 5000 });
  const metrics = new MetricsRegistry();
  const runner = new OperationRunner({ log: state.operations, logger, service: 'vmd', onFinished: operationMetricsRecorder(metrics) });
  const stopPruning = schedulePruning(state.operations, logger);
  logger.info({ retention_ms: OPERATION_RETENTION_MS }, 'finished operations are pruned after the retention period');

  metrics.gauge('banger_vms', 'VMs known to vmd, by state.', ['state'], async () => {
    const all = await vms.list();
    return VM_STATES.map((s) => ({ labels: { state: s }, value: all.filter((v) => v.state === s).length }));
  });

  await runGrpcDaemon({
    name: 'vmd',
    metrics,
    logger,
    socketPath: config.vmd.socket,
    socketMode: 0o660,
    socketGroup: 'banger',
    serviceName: serviceNames.vm,
    definition: vmv1.VmServiceService,
    implementation: vmServiceImplementation({ useCases, runner, operations: state.operations, view, events: new VmEvents(view), bounds: config.vm, defaultImage: config.vm.defaultImage, database: () => probeDb(state.db) }),
    descriptorSetPath,
    drainMs: DRAIN_MS,
    onStop: async () => {
      stats.stop();
      await forwardUpkeep.stop();
      await janitor.stop();
      await runner.shutdown(DRAIN_MS);
      await stopPruning();
      helper.close();
      snapshotHost.close();
      images.close();
      await state.db.close();
    },
  });
  // VMs outlive vmd by design: once serving, align rows with what really runs and clean up
  // after operations a previous process could not finish (reconcile-at-start.ts: how long it
  // waits for privhelper).
  // Whatever reconciliation could not undo stays on its operation's record for the janitor,
  // which starts once reconciliation is over (or given up) and retries until it is gone.
  const reconcile = new Reconcile({ vms, host: helper, snapshots, snapshotHost, release: (opId, kind, ref) => state.operations.releaseResource(opId, kind, ref) });
  void (async () => {
    const reconciled = await reconcileAtStart(() => reconcile.run(state.interrupted), startupRetry(process.env));
    notifyService(logger, { STATUS: `serving on ${config.vmd.socket}; ${reconciled ? 'reconciled with privhelper' : 'reconciliation failed (see the log)'}` });
    janitor.start();
    forwardUpkeep.start(FORWARD_UPKEEP_MS);
  })();
  // runGrpcDaemon returns once serving; a failed listen has logged 'start-up failed' and set the exit code.
  if (process.exitCode === 1) {
    await stopPruning();
    await state.db.close();
  }
}
