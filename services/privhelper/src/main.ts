import { mkdirSync, realpathSync } from 'node:fs';
import { descriptorSetPath, serviceNames } from '@banger/api';
import { loadConfig } from '@banger/config';
import { createLogger, FailedPreconditionError, lookupUserId, PermissionDeniedError, runGrpcDaemon, setRootLogger } from '@banger/runtime';
import { join } from 'node:path';
import { HostFacts } from './app/host-facts.js';
import { HostDiskManager } from './adapters/disk/manager.js';
import { helperServiceDefinition, helperServiceImplementation } from './adapters/grpc/helper-service.js';
import { probeHost } from './adapters/probe/probe.js';
import { QemuDriver } from './adapters/qemu/driver.js';
import type { Hypervisor } from './domain/hypervisor/driver.js';
import { NetworkVerbs } from './adapters/grpc/network-handlers.js';
import { rootfsHandlers } from './adapters/grpc/rootfs-handlers.js';
import { validateNetworkConfig } from './domain/network/index.js';
import { lookupGroupId } from '@banger/runtime';

const config = loadConfig({ env: process.env });
const logger = createLogger({ service: 'privhelper', level: config.log.level });
setRootLogger(logger);
mkdirSync(config.paths.stateDir, { recursive: true, mode: 0o755 });
// Canonical from here on: disk paths are compared lexically against it, and the disk manager
// answers with realpaths, so a symlinked state dir would otherwise refuse its own paths.
const stateDir = realpathSync(config.paths.stateDir);

const allowed = new Set(config.privhelper.allowedUids);
const qemu = config.hypervisor.qemuBinary;
const hostFacts = new HostFacts(
  (deep) => probeHost({ accel: config.hypervisor.accel, kvmBootProbe: deep, ...(qemu.includes('/') ? { qemuPath: qemu } : {}) }),
  stateDir,
);

// VM disks and the images they are based on live under banger's state directory; VM run
// directories (QMP, agent and console sockets, pid files) under its run directory.
const vmDisksRoot = join(stateDir, 'vms');
const roots = { stateDirs: [stateDir], runRoot: config.paths.runDir };
const disks = new HostDiskManager({ vmDisksRoot, imageDirs: [join(stateDir, 'images'), join(stateDir, 'kernels')] }, logger);
// vmd's group reaches each VM's agent socket and console log (not QMP). A group that does not
// exist here (development, no `banger system install`) leaves them root-only.
const clientGroup = config.privhelper.clientGroup;
const clientGid = clientGroup ? lookupGroupId(clientGroup) : undefined;
if (clientGroup && clientGid === undefined) logger.warn({ client_group: clientGroup }, 'client group does not exist; VM run files stay root-only');
let driver: Promise<Hypervisor> | undefined;
// A failed selection is not cached: installing QEMU must not need a helper restart.
const hypervisor = (): Promise<Hypervisor> => {
  if (driver) return driver;
  const next = hostFacts.capabilities().then((caps) => {
    if (!caps.qemuPath) throw new FailedPreconditionError('QEMU_NOT_FOUND', 'qemu-system-x86_64 not found (apt-get install qemu-system-x86)');
    logger.info({ accel: caps.accel, reason: caps.reason, qemu: caps.qemuPath }, 'hypervisor selected');
    return new QemuDriver(
      { qemuPath: caps.qemuPath, accel: caps.accel, tscKhz: caps.tscKhz, runRoot: roots.runRoot, cgroupRoot: caps.cgroupV2 ? '/sys/fs/cgroup' : null, clientGid },
      logger,
    );
  });
  next.catch(() => {
    if (driver === next) driver = undefined;
  });
  driver = next;
  return next;
};

// Taps are owned by the unprivileged banger user when it exists, so vmd-launched QEMU could
// open them; root otherwise (development).
const bangerUid = lookupUserId('banger');
const network = new NetworkVerbs(
  validateNetworkConfig({
    netns: config.network.netns ?? undefined,
    bridge: config.network.bridge,
    cidr: config.network.cidr,
    tapOwnerUid: bangerUid ?? process.getuid?.() ?? 0,
    tapOwnerGid: lookupGroupId('banger'),
    tapWarmSize: config.network.tapPoolSize,
  }),
  logger,
);

logger.info({ config: config.source, allowed_uids: [...allowed], socket: config.privhelper.socket }, 'privhelper starting');

await runGrpcDaemon({
  name: 'privhelper',
  logger,
  socketPath: config.privhelper.socket,
  socketMode: 0o660,
  socketGroup: 'banger',
  serviceName: serviceNames.helper,
  definition: helperServiceDefinition,
  implementation: helperServiceImplementation({ hostFacts, disks, vmDisksRoot, hypervisor: { hypervisor, roots, netns: config.network.netns }, network: network.handlers(), rootfs: rootfsHandlers({ stateDir, cacheDir: config.paths.cacheDir }) }),
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
  onStop: () => network.close(),
});
