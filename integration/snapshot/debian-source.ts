import { imagev1, vmv1 } from '@banger/api';
import { collect, createVmStack, type VmStack } from '../vm/vmstack.js';

/**
 * A stack with the Debian image (built once per machine in the shared cache) and one running
 * VM created with no_wait, shared by every test of a file: Debian guests are expensive under TCG.
 */
export async function stackWithDebianVm(name: string): Promise<{ s: VmStack; vmId: string }> {
  const s = await createVmStack();
  const build = s.images.serverStream('buildImage', imagev1.BuildImageRequest.fromPartial({ recipe: 'debian-bookworm' }), { timeoutMs: 1_800_000 });
  const { error } = await collect(build);
  if (error instanceof Error) throw error;
  const { items, error: createError } = await collect(s.vmd.serverStream('createVm', vmv1.CreateVmRequest.fromPartial({ name, noWait: true }), { timeoutMs: 900_000 }));
  if (createError instanceof Error) throw createError;
  const last = items.at(-1)?.event?.body;
  const vmId = last?.$case === 'vm' ? last.value.id : '';
  if (vmId === '') throw new Error(`create of ${name} ended without a VM`);
  return { s, vmId };
}
