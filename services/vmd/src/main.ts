import { descriptorSetPath, serviceNames, vmv1 } from '@banger/api';
import { loadConfig, type BangerConfig } from '@banger/config';
import { createLogger, log, MetricsRegistry, runGrpcDaemon, setRootLogger } from '@banger/runtime';
import { reconcile } from './app/reconcile.js';
import { VmCreate } from './app/vm-create.js';
import { VmLifecycle } from './app/vm-lifecycle.js';
import { VmLocks } from './app/vm-locks.js';
import { QemuGuestAgent } from './adapters/agent/guest-agent.js';
import { ensureSshKey } from './adapters/ssh-key.js';
import { ProcStats } from './adapters/stats/proc-stats.js';
import { VmRepo } from './adapters/vm-repo.js';
import { parseSubnet } from './domain/addressing.js';
import { OperationRunner } from '@banger/operations';
import { OPERATION_RETENTION_MS, schedulePruning } from '@banger/operations';
import { VmQueries } from './app/vm-queries.js';
import { vmServiceImplementation } from './adapters/grpc/vm-service.js';
import { configureVmView } from './adapters/grpc/vm-convert.js';
import { join } from 'node:path';
import { HelperClient } from './adapters/helper-client.js';
import { ImagedClient } from './adapters/imaged-client.js';
import { openVmdState, type VmdState } from './adapters/state.js';

const DRAIN_MS = 10_000;

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
const images = new ImagedClient(config.imaged.socket);
const vms = new VmRepo(state.vms);
const agent = new QemuGuestAgent();
const locks = new VmLocks();
const subnet = parseSubnet(config.network.cidr);
const ssh = await ensureSshKey(config.paths.stateDir);
configureVmView({ sshKeyPath: ssh.privateKeyPath, knownHostsPath: join(config.paths.stateDir, 'ssh', 'known_hosts'), netns: config.network.netns });
// Under TCG a Debian guest needs 10-40 s to answer its agent on 2 busy cores; opencode's
// first start is slower still. A create that misses these bounds rolls back.
const timeouts = { agentMs: config.vm.agentTimeoutSeconds * 1000, serviceMs: config.vm.servicesTimeoutSeconds * 1000 };
const common = { vms, host: helper, agent, subnet, bridge: config.network.bridge, sshPublicKey: ssh.publicKey, timeouts, logger: log };
// BANGER_INJECT_FAULT=<stage> makes that create stage fail after doing its work: the
// integration suite uses it to prove every stage rolls back cleanly. Never set in production.
const faultStage = process.env['BANGER_INJECT_FAULT'];
const vmCreate = new VmCreate({ ...common, images, locks, ...(faultStage ? { faultStage } : {}) });
const lifecycle = new VmLifecycle({ ...common, locks });
const stats = new ProcStats(async () => (await state.vms.list({ state: 'running' })).filter((v) => v.pid).map((v) => ({ id: v.id, pid: v.pid ?? 0 })));
stats.start();
const runner = new OperationRunner({ log: state.operations, logger, service: 'vmd' });
const stopPruning = schedulePruning(state.operations, logger);
logger.info({ retention_ms: OPERATION_RETENTION_MS }, 'finished operations are pruned after the retention period');

const metrics = new MetricsRegistry();
const VM_STATES = ['creating', 'stopped', 'starting', 'running', 'stopping', 'deleting', 'error'];
metrics.gauge('banger_vms', 'VMs known to vmd, by state.', ['state'], async () => {
  const all = await state.vms.list();
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
  implementation: vmServiceImplementation({
    vmCreate,
    lifecycle,
    lifecycleDeps: { vms, host: helper, locks },
    images,
    stats,
    runner,
    operations: state.operations,
    vms: new VmQueries(state.vms),
    bounds: config.vm,
    defaultImage: config.vm.defaultImage,
  }),
  descriptorSetPath,
  drainMs: DRAIN_MS,
  onStop: async () => {
    stats.stop();
    await runner.shutdown(DRAIN_MS);
    await stopPruning();
    helper.close();
    images.close();
    await state.db.close();
  },
});
// VMs outlive vmd by design: once serving, align rows with what really runs and clean up
// after operations a previous process could not finish. privhelper may still be starting.
void (async () => {
  for (let attempt = 1; attempt <= 30; attempt++) {
    try {
      await reconcile({ vms, host: helper, logger }, state.interrupted);
      return;
    } catch (err) {
      logger.warn({ err, attempt }, 'reconciliation failed; retrying');
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
})();
// runGrpcDaemon returns once serving; a failed listen has logged 'start-up failed' and set the exit code.
if (process.exitCode === 1) {
  await stopPruning();
  await state.db.close();
}
