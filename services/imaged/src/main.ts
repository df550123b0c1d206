import { mkdirSync } from 'node:fs';
import { descriptorSetPath, imagev1, serviceNames } from '@banger/api';
import { bangerLayout, loadConfig, type BangerConfig } from '@banger/config';
import { DEFAULT_IMAGES_DIR } from '@banger/imagekit';
import { createLogger, MetricsRegistry, operationMetricsRecorder, runGrpcDaemon, setRootLogger } from '@banger/runtime';
import { probeDb } from '@banger/store';
import { HelperClient } from './adapters/helper-client.js';
import { imageServiceImplementation } from './adapters/grpc/image-service.js';
import { HostImageFiles } from './adapters/image-files.js';
import { PgImageRepo } from './adapters/image-repo.js';
import { PgKernelRepo } from './adapters/kernel-repo.js';
import { ImagekitKernelSource } from './adapters/kernel-source.js';
import { sweepPartialPulls } from './app/kernels/sweep-partial-pulls.js';
import { ImagekitRecipeSource } from './adapters/recipe-source.js';
import { openImagedState, type ImagedState } from './adapters/state.js';
import { BuildImage } from './app/images/build-image.js';
import { ImageQueries } from './app/images/image-queries.js';
import { PromoteImage } from './app/images/promote-image.js';
import { ResolveImage } from './app/images/resolve-image.js';
import { KernelQueries } from './app/kernels/kernel-queries.js';
import { PullKernel } from './app/kernels/pull-kernel.js';
import { OPERATION_RETENTION_MS, schedulePruning } from '@banger/operations';
import { OperationRunner } from '@banger/operations';

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

// imaged writes only its own directories (the layout's daemon part: its database, the kernels
// it pulls, its apt state); images live in privhelper's root-owned store and change only
// through privhelper's verbs.
const layout = bangerLayout(config);
const imagesDir = layout.helper.imagesDir;
const kernelsDir = layout.daemon.kernelStagingDir;
let state: ImagedState;
try {
  mkdirSync(kernelsDir, { recursive: true });
  state = await openImagedState(config, logger);
} catch (err) {
  logger.fatal({ err, hint: 'the state directory layout comes from `banger system install` (docs/trust-model.md)' }, 'start-up failed');
  process.exit(1);
}

const images = new PgImageRepo(state.db, imagesDir);
const kernels = new PgKernelRepo(state.db);
// Root uses the system's apt lists; unprivileged (banger under systemd), imaged cannot refresh
// those and keeps its own under the cache dir.
const aptPrivateDir = process.getuid?.() === 0 ? undefined : layout.daemon.aptDir;
const kernelSource = new ImagekitKernelSource({ imagesDir: DEFAULT_IMAGES_DIR, kernelsDir, logger, apt: { privateDir: aptPrivateDir } });
const recipes = new ImagekitRecipeSource(DEFAULT_IMAGES_DIR);
const helper = new HelperClient(config.privhelper.socket);
const files = new HostImageFiles(imagesDir, helper);
const pullKernel = new PullKernel({ kernels, source: kernelSource, installer: helper });

// Before serving, so no pull or build of this imaged can be using the staging dir.
await sweepPartialPulls({ staging: kernelSource, log: logger }).catch((err: unknown) => logger.warn({ err }, 'partial kernel pull sweep failed; retried at the next start'));
const metrics = new MetricsRegistry();
const runner = new OperationRunner({ log: state.operations, logger, service: 'imaged', onFinished: operationMetricsRecorder(metrics) });
const stopPruning = schedulePruning(state.operations, logger);
logger.info({ retention_ms: OPERATION_RETENTION_MS, images_dir: imagesDir, kernels_dir: kernelsDir }, 'finished operations are pruned after the retention period');

await runGrpcDaemon({
  name: 'imaged',
  metrics,
  logger,
  socketPath: config.imaged.socket,
  socketMode: 0o660,
  socketGroup: 'banger',
  serviceName: serviceNames.image,
  definition: imagev1.ImageServiceService,
  implementation: imageServiceImplementation({
    runner,
    operations: state.operations,
    buildImage: new BuildImage({ images, kernels, kernelSource, recipes, builder: helper, installer: helper, files, pullKernel }),
    resolveImage: new ResolveImage({ images, kernels, files, installer: helper }),
    images: new ImageQueries({ images, files, recipes, kernels, kernelSource }),
    promoteImage: new PromoteImage({ images, files }),
    pullKernel,
    kernels: new KernelQueries({ kernels, images, source: kernelSource, installer: helper }),
    database: () => probeDb(state.db),
  }),
  descriptorSetPath,
  drainMs: DRAIN_MS,
  onStop: async () => {
    await runner.shutdown(DRAIN_MS);
    await stopPruning();
    helper.close();
    await state.db.close();
  },
});
// runGrpcDaemon returns once serving; a failed listen has logged 'start-up failed' and set the exit code.
if (process.exitCode === 1) {
  await stopPruning();
  helper.close();
  await state.db.close();
}
