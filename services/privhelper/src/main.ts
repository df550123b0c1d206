import { mkdirSync } from 'node:fs';
import { descriptorSetPath, helperv1, serviceNames } from '@banger/api';
import { loadConfig } from '@banger/config';
import { createLogger, PermissionDeniedError, runGrpcDaemon, setRootLogger } from '@banger/runtime';
import { HostFacts } from './app/host-facts.js';
import { helperServiceImplementation } from './adapters/grpc/helper-service.js';
import { probeHost } from './adapters/probe/probe.js';

const config = loadConfig({ env: process.env });
const logger = createLogger({ service: 'privhelper', level: config.log.level });
setRootLogger(logger);
mkdirSync(config.paths.stateDir, { recursive: true, mode: 0o755 });

const allowed = new Set(config.privhelper.allowedUids);
const qemu = config.hypervisor.qemuBinary;
const hostFacts = new HostFacts(
  (deep) => probeHost({ accel: config.hypervisor.accel, kvmBootProbe: deep, ...(qemu.includes('/') ? { qemuPath: qemu } : {}) }),
  config.paths.stateDir,
);

logger.info({ config: config.source, allowed_uids: [...allowed], socket: config.privhelper.socket }, 'privhelper starting');

await runGrpcDaemon({
  name: 'privhelper',
  logger,
  socketPath: config.privhelper.socket,
  socketMode: 0o660,
  socketGroup: 'banger',
  serviceName: serviceNames.helper,
  definition: helperv1.HelperServiceService,
  implementation: helperServiceImplementation({ hostFacts }),
  descriptorSetPath,
  logPrefix: 'helper rpc',
  // Fail closed: a caller the kernel could not identify is refused like a foreign uid.
  authorize: (peer) =>
    peer !== undefined && allowed.has(peer.uid)
      ? undefined
      : new PermissionDeniedError('UID_NOT_ALLOWED', peer ? `uid ${peer.uid} may not use privhelper` : 'caller could not be identified', {
          fields: { uid: peer?.uid },
        }),
  drainMs: 10_000,
});
