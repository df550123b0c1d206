import * as imagev1 from '@banger/api/image';
import { RpcError } from '@banger/runtime';
import { probeDaemons } from '../commands/version.js';
import type { CheckResult, DoctorCheck } from './checks.js';
import { doctorConfig } from './config.js';

const BACKENDS: Readonly<Record<string, string>> = {
  'embedded-postgres': 'embedded PostgreSQL cluster',
  postgres: 'external PostgreSQL ([database] url)',
};

/** vmd's and imaged's databases, as each daemon sees its own (a `SELECT 1` per call). */
export const databaseCheck: DoctorCheck = {
  id: 'database',
  async run(ctx) {
    const probes = (await probeDaemons(ctx, 3000)).filter((p) => p.name === 'vmd' || p.name === 'imaged');
    return probes.map((p): CheckResult => {
      const name = `${p.name} database`;
      if (!p.ok) return { name, status: 'warn', detail: `cannot ask ${p.name} about its database: it is not answering`, fix: `sudo systemctl start banger-${p.name}` };
      const db = p.info.database;
      if (!db) return { name, status: 'warn', detail: `${p.name} v${p.info.version} does not report its database (older daemon)`, fix: 'restart the daemons after upgrading' };
      const backend = BACKENDS[db.backend] ?? db.backend;
      if (db.reachable) return { name, status: 'pass', detail: `${backend} at ${db.target}, answered in ${db.roundTripMs} ms` };
      const fix =
        db.backend === 'postgres'
          ? `check [database] url and that the server accepts the banger user: psql '${db.target}' -c 'select 1'`
          : `sudo systemctl restart banger-${p.name} (it starts its cluster again); its log says why it stopped: journalctl -u banger-${p.name}`;
      return { name, status: 'fail', detail: `${backend} at ${db.target} is not answering: ${db.error}`, fix };
    });
  },
};

/** The default image and its kernel: present, or the command that makes them. */
export const imagesCheck: DoctorCheck = {
  id: 'images',
  async run(ctx) {
    const loaded = doctorConfig(ctx, 'default image');
    if ('failure' in loaded) return [loaded.failure];
    const wanted = loaded.config.vm.defaultImage;
    const opts = ctx.callOptions({ timeoutMs: ctx.globals.timeoutMs ?? 5000 });
    let images: imagev1.Image[];
    let kernels: imagev1.Kernel[];
    try {
      [images, kernels] = await Promise.all([
        ctx.imaged().unary('listImages', imagev1.ListImagesRequest.fromPartial({}), opts).then((r) => r.images),
        ctx.imaged().unary('listKernels', imagev1.ListKernelsRequest.fromPartial({ includeAvailable: true }), opts).then((r) => r.kernels),
      ]);
    } catch (err) {
      const detail = err instanceof RpcError && err.unreachable ? 'imaged unreachable: cannot list images and kernels' : `cannot list images and kernels: ${err instanceof Error ? err.message : String(err)}`;
      return [{ name: 'default image', status: 'warn', detail, fix: 'sudo systemctl start banger-imaged' }];
    }
    const image = images.find((i) => i.name === wanted);
    const installed = kernels.filter((k) => k.state === imagev1.KernelState.KERNEL_STATE_INSTALLED);
    const results: CheckResult[] = [];
    if (image?.state === imagev1.ImageState.IMAGE_STATE_READY) {
      results.push({ name: 'default image', status: 'pass', detail: `${wanted} (${image.id}) is ready` });
    } else {
      const state = image ? imagev1.imageStateToJSON(image.state).replace('IMAGE_STATE_', '').toLowerCase() : 'not built';
      results.push({ name: 'default image', status: 'fail', detail: `${wanted} ([vm] default_image) is ${state}: vm create without --image fails`, fix: `banger image build ${image?.recipe || wanted}${image ? ' --force' : ''}` });
    }
    const kernelName = image?.kernel;
    const kernel = kernelName ? installed.find((k) => k.name === kernelName) : installed[0];
    if (kernel) results.push({ name: 'kernel', status: 'pass', detail: `${kernel.name} ${kernel.version} installed${kernelName ? ` (the default image's)` : ''}` });
    else {
      const pull = kernelName ?? kernels.find((k) => k.state === imagev1.KernelState.KERNEL_STATE_AVAILABLE)?.name;
      results.push({
        name: 'kernel',
        status: 'fail',
        detail: kernelName ? `${kernelName} (the default image's kernel) is not installed` : 'no kernel is installed',
        fix: pull ? `banger kernel pull ${pull} (banger image build pulls it too)` : 'banger kernel list --available',
      });
    }
    return results;
  },
};
