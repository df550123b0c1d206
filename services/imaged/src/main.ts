import { descriptorSetPath, imagev1, serviceNames } from '@banger/api';
import { loadConfig } from '@banger/config';
import { createLogger, runGrpcDaemon, setRootLogger } from '@banger/runtime';
import { imageServiceImplementation } from './adapters/grpc/image-service.js';

const config = loadConfig({ env: process.env });
const logger = createLogger({ service: 'imaged', level: config.log.level });
setRootLogger(logger);

logger.info({ config: config.source, socket: config.imaged.socket }, 'imaged starting');

await runGrpcDaemon({
  name: 'imaged',
  logger,
  socketPath: config.imaged.socket,
  socketMode: 0o660,
  socketGroup: 'banger',
  serviceName: serviceNames.image,
  definition: imagev1.ImageServiceService,
  implementation: imageServiceImplementation(),
  descriptorSetPath,
  drainMs: 10_000,
});
