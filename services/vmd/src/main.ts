import { descriptorSetPath, serviceNames, vmv1 } from '@banger/api';
import { loadConfig } from '@banger/config';
import { createLogger, runGrpcDaemon, setRootLogger } from '@banger/runtime';
import { CreateVm } from './app/create-vm.js';
import { vmServiceImplementation } from './adapters/grpc/vm-service.js';
import { HelperClient } from './adapters/helper-client.js';
import { ImagedClient } from './adapters/imaged-client.js';

const config = loadConfig({ env: process.env });
const logger = createLogger({ service: 'vmd', level: config.log.level });
setRootLogger(logger);

const helper = new HelperClient(config.privhelper.socket);
const images = new ImagedClient(config.imaged.socket);
const createVm = new CreateVm({ host: helper, images });

logger.info({ config: config.source, socket: config.vmd.socket }, 'vmd starting');

await runGrpcDaemon({
  name: 'vmd',
  logger,
  socketPath: config.vmd.socket,
  socketMode: 0o660,
  socketGroup: 'banger',
  serviceName: serviceNames.vm,
  definition: vmv1.VmServiceService,
  implementation: vmServiceImplementation({ createVm, bounds: config.vm, defaultImage: 'debian-bookworm' }),
  descriptorSetPath,
  drainMs: 10_000,
  onStop: async () => {
    helper.close();
    images.close();
  },
});
