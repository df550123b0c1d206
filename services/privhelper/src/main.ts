import { readFileSync } from 'node:fs';
import { lstat } from 'node:fs/promises';
import { totalmem } from 'node:os';
import { jailerPath, tcpConnectInNetns } from '@banger/sys';
import { descriptorSetPath, serviceNames } from '@banger/api';
import { bangerLayout, connectSocketPath, loadConfig } from '@banger/config';
import { createLogger, FailedPreconditionError, lookupGroupId, lookupUserId, PermissionDeniedError, runGrpcDaemon, setRootLogger } from '@banger/runtime';
import { join } from 'node:path';
import { HostFacts } from './app/host-facts.js';
import { LaunchVm } from './app/launch-vm.js';
import { RestoreVm } from './app/restore-vm.js';
import { SuspendVm } from './app/suspend-vm.js';
import { SnapshotVm } from './app/snapshot-vm.js';
import { RestoreSnapshot } from './app/restore-snapshot.js';
import { GuestRamStore } from './adapters/store/guest-ram.js';
import { SnapshotQuota } from './adapters/store/snapshot-quota.js';
import { SnapshotStore } from './adapters/store/snapshot-store.js';
import { SavedStateStore } from './adapters/store/saved-state.js';
import { killProcessesUsingDir } from './adapters/proc/pids.js';
import { sweepBuildDir } from './app/sweep-build-dir.js';
import { serveConnect } from './adapters/connect/connect-server.js';
import { prepareHelperRoots } from './adapters/fs/helper-roots.js';
import { checkInstallPrefix } from './adapters/fs/install-prefix.js';
import { checkJailRange } from './adapters/fs/jail-ids.js';
import { helperServiceDefinition, helperServiceImplementation } from './adapters/grpc/helper-service.js';
import { NetworkVerbs } from './adapters/grpc/network-handlers.js';
import { probeHost } from './adapters/probe/probe.js';
import { QemuDriver } from './adapters/qemu/driver.js';
import { ImageBuilder } from './adapters/store/image-builder.js';
import { ImageStore } from './adapters/store/image-store.js';
import { KernelStore } from './adapters/store/kernel-store.js';
import { defaultDiskTools, VmDiskStore } from './adapters/store/vm-disks.js';
import { validateNetworkConfig } from './domain/network/index.js';

const config = loadConfig({ env: process.env });
const logger = createLogger({ service: 'privhelper', level: config.log.level });
setRootLogger(logger);

const GIB = 1024 ** 3;
const layout = bangerLayout(config);
const helper = layout.helper;
const daemonUid = lookupUserId('banger') ?? 0;
const daemonGid = lookupGroupId('banger') ?? 0;
// vmd's group reaches each VM's agent socket and console log (not QMP). A group that does not
// exist here (development, no `banger system install`) leaves them root-only.
const clientGroup = config.privhelper.clientGroup;
const clientGid = clientGroup ? lookupGroupId(clientGroup) : undefined;
if (clientGroup && clientGid === undefined) logger.warn({ client_group: clientGroup }, 'client group does not exist; VM run files stay root-only');

try {
  // Refuse to serve at all unless the code root runs and the directories root writes into are
  // root's alone (docs/trust-model.md).
  checkInstallPrefix();
  prepareHelperRoots(layout, { daemonUid, daemonGid, clientGid: clientGid ?? 0 });
  checkJailRange(config.privhelper.jail.uidBase, config.privhelper.jail.uidCount);
} catch (err) {
  logger.fatal({ err, path: (err as { fields?: Record<string, string> }).fields?.['path'], fix: (err as { fields?: Record<string, string> }).fields?.['fix'] }, 'start-up refused');
  process.exit(1);
}

const allowed = new Set(config.privhelper.allowedUids);
const quotas = config.privhelper.quotas;
const qemu = config.hypervisor.qemuBinary;
const hostFacts = new HostFacts(
  (deep) => probeHost({ accel: config.hypervisor.accel, kvmBootProbe: deep, ...(qemu.includes('/') ? { qemuPath: qemu } : {}) }),
  helper.stateRoot,
  quotas.deepProbeIntervalSeconds * 1000,
);

let driver: Promise<QemuDriver> | undefined;
// A failed selection is not cached: installing QEMU must not need a helper restart.
const hypervisor = (): Promise<QemuDriver> => {
  if (driver) return driver;
  const next = hostFacts.capabilities().then((caps) => {
    if (!caps.qemuPath) throw new FailedPreconditionError('QEMU_NOT_FOUND', 'qemu-system-x86_64 not found (apt-get install qemu-system-x86)');
    logger.info({ accel: caps.accel, reason: caps.reason, qemu: caps.qemuPath }, 'hypervisor selected');
    const jail = config.privhelper.jail;
    return new QemuDriver(
      {
        qemuPath: caps.qemuPath,
        accel: caps.accel,
        tscKhz: caps.tscKhz,
        runVmsDir: helper.runVmsDir,
        jailerPath: jailerPath(),
        jail: {
          uidBase: jail.uidBase,
          uidCount: jail.uidCount,
          optional: jail.optionalLayers,
          memoryOverheadMib: jail.qemuMemoryOverheadMib,
          pidsMax: jail.pidsMax,
          consoleMaxBytes: jail.consoleMaxMib * 1024 * 1024,
        },
        cgroups: { root: '/sys/fs/cgroup', selfCgroup: readFileSync('/proc/self/cgroup', 'utf8'), pid: process.pid },
        clientGid: clientGid ?? 0,
      },
      logger,
    );
  });
  next.catch(() => {
    if (driver === next) driver = undefined;
  });
  driver = next;
  return next;
};

// Taps are owned by the unprivileged banger user when it exists; root otherwise (development).
const network = new NetworkVerbs(
  validateNetworkConfig({
    netns: config.network.netns ?? undefined,
    bridge: config.network.bridge,
    cidr: config.network.cidr,
    tapOwnerUid: lookupUserId('banger') ?? process.getuid?.() ?? 0,
    tapOwnerGid: lookupGroupId('banger'),
    tapWarmSize: config.network.tapPoolSize,
    dnsUpstream: config.network.dnsUpstream === '' ? hostResolver() : config.network.dnsUpstream,
  }),
  logger,
  { fenceFile: join(helper.runRoot, 'net', 'fences.json') },
);
// A helper that cannot read the kernel's taps yet still serves; VMs then get their fences back with vm egress or a restart.
await network.restoreFences().catch((err: unknown) => logger.warn({ err }, 'fences not restored'));

const vmBounds = config.vm;
const images = new ImageStore(helper, clientGid ?? 0);
const kernels = new KernelStore(helper, layout.daemon.kernelStagingDir, clientGid ?? 0, logger);
// Disk tools that parse guest-written bytes run as uids from the top of the jail range.
const diskTools = defaultDiskTools({ uidBase: config.privhelper.jail.uidBase, uidCount: config.privhelper.jail.uidCount });
const disks = new VmDiskStore(
  helper,
  images,
  {
    maxVms: quotas.maxVms,
    minWorkDiskBytes: vmBounds.workDiskGib.min * GIB,
    maxWorkDiskBytes: vmBounds.workDiskGib.max * GIB,
    maxWorkDiskTotalBytes: quotas.maxWorkDiskTotalGib * GIB,
  },
  logger,
  diskTools,
);
const builder = new ImageBuilder({ layout: helper, images, kernels, disks, guestBytes: diskTools.guestBytes, isRunning: async (id) => (await (await hypervisor()).find(id)) !== undefined, log: logger });
const guestRam = new GuestRamStore();
const guestMemory = {
  runningMib: async () => (await hypervisor()).runningMemoryMib(),
  templateBytes: () => guestRam.heldBytes(),
  limitMib: Math.floor((totalmem() / 1024 / 1024) * (quotas.maxGuestMemoryPercent / 100)),
};
const launch = new LaunchVm({
  hypervisor,
  ram: guestRam,
  kernels,
  disks,
  taps: network,
  limits: { minMemoryMib: vmBounds.memoryMib.min, maxMemoryMib: vmBounds.memoryMib.max, minVcpus: vmBounds.vcpus.min, maxVcpus: vmBounds.vcpus.max },
  runVmsDir: helper.runVmsDir,
  memory: guestMemory,
});

const states = new SavedStateStore((id) => disks.dirOf(id));
const qemuHost = async (): Promise<{ accel: string; qemuVersion: string }> => {
  const caps = await hostFacts.capabilities();
  return { accel: caps.accel, qemuVersion: caps.qemuVersion ?? 'unknown' };
};
const launchLimits = { minMemoryMib: vmBounds.memoryMib.min, maxMemoryMib: vmBounds.memoryMib.max, minVcpus: vmBounds.vcpus.min, maxVcpus: vmBounds.vcpus.max };
const snapshotQuota = new SnapshotQuota({ snapshotsDir: helper.snapshotsDir, vmsDir: helper.vmsDir, maxBytes: quotas.maxSnapshotTotalGib * GIB });
/** A snapshot or a suspend must fit its quota and the free space beside the VMs' disks. */
const checkStateRoom = async (id: string, bytes: number): Promise<void> => {
  await snapshotQuota.check({ vmId: id }, bytes);
  await disks.checkStateRoom(id, bytes);
};
const savedStates = {
  hypervisor,
  states,
  runVmsDir: helper.runVmsDir,
  suspend: new SuspendVm({ hypervisor, states, host: qemuHost, checkRoom: checkStateRoom }),
  restore: new RestoreVm({ hypervisor, launch, states, host: qemuHost, baseImageOf: async (id) => (await disks.record(id))?.root?.image, limits: launchLimits, runVmsDir: helper.runVmsDir }),
};

const snapshotFiles = new SnapshotStore(helper.snapshotsDir);
const snapshots = {
  snapshots: snapshotFiles,
  disks,
  hypervisor,
  runVmsDir: helper.runVmsDir,
  ram: guestRam,
  restore: new RestoreSnapshot({ hypervisor, launch, snapshots: snapshotFiles, ram: guestRam, host: qemuHost, baseImageOf: async (id) => (await disks.record(id))?.root?.image, limits: launchLimits, runVmsDir: helper.runVmsDir }),
  snapshot: new SnapshotVm({
    hypervisor,
    ram: guestRam,
    memory: guestMemory,
    snapshots: snapshotFiles,
    diskPaths: (id) => disks.diskPaths(id),
    checkRoom: checkStateRoom,
    host: qemuHost,
    diskBytes: async (id) => {
      const p = disks.diskPaths(id);
      let total = 0;
      for (const f of [p.root, p.work]) total += ((await lstat(f).catch(() => undefined))?.blocks ?? 0) * 512;
      return total;
    },
  }),
};

logger.info({ config: config.source, allowed_uids: [...allowed], socket: config.privhelper.socket, state_root: helper.stateRoot }, 'privhelper starting');
await sweepBuildDir(helper.buildDir, logger, killProcessesUsingDir);
const partialSnapshots = await snapshotFiles.sweepPartials();
if (partialSnapshots.length > 0) logger.warn({ removed: partialSnapshots }, 'partial snapshots of a previous privhelper removed');

const connectListener = await serveConnect({
  socketPath: connectSocketPath(config),
  stagingDir: helper.runRoot,
  socketGroupGid: lookupGroupId('banger'),
  allowedUids: allowed,
  deps: {
    guestAddress: (vmId) => network.guestAddress(vmId),
    netnsPath: config.network.netns ? `/run/netns/${config.network.netns}` : '',
    connect: tcpConnectInNetns,
  },
  log: logger,
});

await runGrpcDaemon({
  name: 'privhelper',
  logger,
  socketPath: config.privhelper.socket,
  socketMode: 0o660,
  socketGroup: 'banger',
  socketStagingDir: helper.runRoot,
  metricsDir: join(helper.runRoot, 'metrics'),
  serviceName: serviceNames.helper,
  definition: helperServiceDefinition,
  implementation: helperServiceImplementation({
    hostFacts,
    disks,
    hypervisor: { hypervisor, launch, runVmsDir: helper.runVmsDir },
    images: { builder, images, disks, snapshotsUsing: async (image) => (await snapshotFiles.list()).filter((x) => x.compat.baseImage === image).map((x) => x.snapshotId) },
    kernels: { kernels, inUse: async () => (await hypervisor()).runningKernels() },
    network: network.handlers(),
    held: { disks, taps: network, hypervisor, runVmsDir: helper.runVmsDir, snapshots: snapshotFiles },
    savedStates,
    snapshots,
  }),
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
  onStop: async () => {
    await connectListener.close();
    await network.close();
  },
});

/** The host's first IPv4 nameserver (/etc/resolv.conf), banger DNS's default upstream; "none" when there is none. */
function hostResolver(): string {
  try {
    const m = /^\s*nameserver\s+((?:\d{1,3}\.){3}\d{1,3})\s*$/m.exec(readFileSync('/etc/resolv.conf', 'utf8'));
    return m?.[1] ?? 'none';
  } catch {
    return 'none';
  }
}
