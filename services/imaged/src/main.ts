import { mkdirSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { descriptorSetPath, imagev1, serviceNames } from '@banger/api';
import { loadConfig, type BangerConfig } from '@banger/config';
import { DEFAULT_IMAGES_DIR } from '@banger/imagekit';
import { createLogger, runGrpcDaemon, setRootLogger } from '@banger/runtime';
import { HelperRootfsBuilder } from './adapters/helper-client.js';
import { imageServiceImplementation } from './adapters/grpc/image-service.js';
import { HostImageFiles } from './adapters/image-files.js';
import { PgImageRepo } from './adapters/image-repo.js';
import { PgKernelRepo } from './adapters/kernel-repo.js';
import { ImagekitKernelSource } from './adapters/kernel-source.js';
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

let state: ImagedState;
let stateDir: string;
try {
  mkdirSync(config.paths.stateDir, { recursive: true, mode: 0o755 });
  // Canonical, like privhelper's: it confines the paths imaged sends against its realpath.
  stateDir = realpathSync(config.paths.stateDir);
  state = await openImagedState(config, logger);
} catch (err) {
  logger.fatal({ err }, 'start-up failed');
  process.exit(1);
}
const imagesDir = path.join(stateDir, 'images');
const kernelsDir = path.join(stateDir, 'kernels');
mkdirSync(imagesDir, { recursive: true });
mkdirSync(kernelsDir, { recursive: true });

const images = new PgImageRepo(state.db);
const kernels = new PgKernelRepo(state.db);
// Root uses the system's apt lists; unprivileged (banger under systemd), imaged cannot refresh
// those and keeps its own under the cache dir.
const aptPrivateDir = process.getuid?.() === 0 ? undefined : path.join(config.paths.cacheDir, 'apt');
const kernelSource = new ImagekitKernelSource({ imagesDir: DEFAULT_IMAGES_DIR, kernelsDir, logger, apt: { privateDir: aptPrivateDir } });
const recipes = new ImagekitRecipeSource(DEFAULT_IMAGES_DIR);
const files = new HostImageFiles(imagesDir, path.join(stateDir, 'vms'));
const builder = new HelperRootfsBuilder(config.privhelper.socket);
const pullKernel = new PullKernel({ kernels, source: kernelSource });

const runner = new OperationRunner({ log: state.operations, logger, service: 'imaged' });
const stopPruning = schedulePruning(state.operations, logger);
logger.info({ retention_ms: OPERATION_RETENTION_MS, images_dir: imagesDir, kernels_dir: kernelsDir }, 'finished operations are pruned after the retention period');

await runGrpcDaemon({
  name: 'imaged',
  logger,
  socketPath: config.imaged.socket,
  socketMode: 0o660,
  socketGroup: 'banger',
  serviceName: serviceNames.image,
  definition: imagev1.ImageServiceService,
  implementation: imageServiceImplementation({
    runner,
    operations: state.operations,
    buildImage: new BuildImage({ images, kernels, kernelSource, recipes, builder, files, pullKernel, imagesDir }),
    resolveImage: new ResolveImage({ images, kernels, files }),
    images: new ImageQueries({ images, files, recipes, kernels, kernelSource }),
    promoteImage: new PromoteImage({ images, files }),
    pullKernel,
    kernels: new KernelQueries({ kernels, images, source: kernelSource }),
  }),
  descriptorSetPath,
  drainMs: DRAIN_MS,
  onStop: async () => {
    await runner.shutdown(DRAIN_MS);
    await stopPruning();
    builder.close();
    await state.db.close();
  },
});
// runGrpcDaemon returns once serving; a failed listen has logged 'start-up failed' and set the exit code.
if (process.exitCode === 1) {
  await stopPruning();
  builder.close();
  await state.db.close();
}
