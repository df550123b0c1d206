import { descriptorSetPath, imagev1, serviceNames } from '@banger/api';
import { loadConfig, type BangerConfig } from '@banger/config';
import { createLogger, runGrpcDaemon, setRootLogger } from '@banger/runtime';
import { imageServiceImplementation } from './adapters/grpc/image-service.js';
import { openImagedState, type ImagedState } from './adapters/state.js';
import { OPERATION_RETENTION_MS, schedulePruning } from './app/operations/prune.js';
import { OperationRunner } from './app/operations/runner.js';

const DRAIN_MS = 10_000;

let config: BangerConfig;
try {
  config = loadConfig({ env: process.env });
} catch (err) {
  createLogger({ service: 'imaged' }).fatal({ err }, 'start-up failed');
  process.exit(1);
}
const logger = createLogger({ service: 'imaged', level: config.log.level });
setRootLogger(logger);
logger.info({ config: config.source, socket: config.imaged.socket }, 'imaged starting');

let state: ImagedState;
try {
  state = await openImagedState(config, logger);
} catch (err) {
  logger.fatal({ err }, 'start-up failed');
  process.exit(1);
}

const runner = new OperationRunner({ log: state.operations, logger, service: 'imaged' });
const stopPruning = schedulePruning(state.operations, logger);
logger.info({ retention_ms: OPERATION_RETENTION_MS }, 'finished operations are pruned after the retention period');

await runGrpcDaemon({
  name: 'imaged',
  logger,
  socketPath: config.imaged.socket,
  socketMode: 0o660,
  socketGroup: 'banger',
  serviceName: serviceNames.image,
  definition: imagev1.ImageServiceService,
  implementation: imageServiceImplementation({ runner, operations: state.operations }),
  descriptorSetPath,
  drainMs: DRAIN_MS,
  onStop: async () => {
    await runner.shutdown(DRAIN_MS);
    await stopPruning();
    await state.db.close();
  },
});
// runGrpcDaemon returns once serving; a failed listen has logged 'start-up failed' and set the exit code.
if (process.exitCode === 1) {
  await stopPruning();
  await state.db.close();
}
