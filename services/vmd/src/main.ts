import { descriptorSetPath, serviceNames, vmv1 } from '@banger/api';
import { loadConfig, type BangerConfig } from '@banger/config';
import { createLogger, runGrpcDaemon, setRootLogger } from '@banger/runtime';
import { CreateVm } from './app/create-vm.js';
import { OperationRunner } from './app/operations/runner.js';
import { OPERATION_RETENTION_MS, schedulePruning } from './app/operations/prune.js';
import { VmQueries } from './app/vm-queries.js';
import { vmServiceImplementation } from './adapters/grpc/vm-service.js';
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
const createVm = new CreateVm({ host: helper, images });
const runner = new OperationRunner({ log: state.operations, logger, service: 'vmd' });
const stopPruning = schedulePruning(state.operations, logger);
logger.info({ retention_ms: OPERATION_RETENTION_MS }, 'finished operations are pruned after the retention period');

await runGrpcDaemon({
  name: 'vmd',
  logger,
  socketPath: config.vmd.socket,
  socketMode: 0o660,
  socketGroup: 'banger',
  serviceName: serviceNames.vm,
  definition: vmv1.VmServiceService,
  implementation: vmServiceImplementation({
    createVm,
    runner,
    operations: state.operations,
    vms: new VmQueries(state.vms),
    bounds: config.vm,
    defaultImage: 'debian-bookworm',
  }),
  descriptorSetPath,
  drainMs: DRAIN_MS,
  onStop: async () => {
    await runner.shutdown(DRAIN_MS);
    await stopPruning();
    helper.close();
    images.close();
    await state.db.close();
  },
});
// runGrpcDaemon returns once serving; a failed listen has logged 'start-up failed' and set the exit code.
if (process.exitCode === 1) {
  await stopPruning();
  await state.db.close();
}
