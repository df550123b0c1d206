import * as grpc from '@grpc/grpc-js';
import { googleRpc, imagev1, vmv1 } from '@banger/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStack, type Stack } from '../harness/daemons.js';

/** What a plain gRPC client (grpc-js with the generated stubs, no banger code) sees of a failed call. */
interface Seen {
  code: grpc.status;
  details: string;
  reason: string | undefined;
  field: string | undefined;
  fieldViolations: string[];
  trailerBytes: number;
}

function seen(err: grpc.ServiceError): Seen {
  let trailerBytes = 0;
  for (const [k, v] of Object.entries(err.metadata.getMap())) trailerBytes += k.length + (Buffer.isBuffer(v) ? Math.ceil(v.length / 3) * 4 : Buffer.byteLength(v));
  trailerBytes += Buffer.byteLength(encodeURIComponent(err.details));
  const raw = err.metadata.get('grpc-status-details-bin')[0];
  const status = Buffer.isBuffer(raw) ? googleRpc.Status.decode(raw) : undefined;
  let reason: string | undefined;
  let field: string | undefined;
  const fieldViolations: string[] = [];
  for (const any of status?.details ?? []) {
    if (any.typeUrl.endsWith('google.rpc.ErrorInfo')) {
      const info = googleRpc.ErrorInfo.decode(any.value);
      reason = info.reason;
      field = info.metadata['field'];
    } else if (any.typeUrl.endsWith('google.rpc.BadRequest')) {
      for (const v of googleRpc.BadRequest.decode(any.value).fieldViolations) fieldViolations.push(v.field);
    }
  }
  return { code: err.code, details: err.details, reason, field, fieldViolations, trailerBytes };
}

function failure(call: (cb: (err: grpc.ServiceError | null) => void) => void): Promise<Seen> {
  return new Promise((resolve, reject) => {
    call((err) => (err ? resolve(seen(err)) : reject(new Error('the call succeeded'))));
  });
}

const NUL_REF = 'dev\u0000x';
const LONG_REF = 'x'.repeat(5000);

/**
 * Bad references through a plain gRPC client: each is refused as INVALID_ARGUMENT naming its
 * field, before any query (no database text comes back) and with trailers far below gRPC's
 * 8 KiB metadata limit, in vmd and in imaged.
 */
describe('references are checked before any query, in every daemon', () => {
  let stack: Stack;
  let vmd: vmv1.VmServiceClient;
  let imaged: imagev1.ImageServiceClient;

  beforeAll(async () => {
    stack = await createStack();
    await stack.start('imaged');
    await stack.start('vmd');
    vmd = new vmv1.VmServiceClient(`unix://${stack.socket('vmd')}`, grpc.credentials.createInsecure());
    imaged = new imagev1.ImageServiceClient(`unix://${stack.socket('imaged')}`, grpc.credentials.createInsecure());
  });

  afterAll(async () => {
    vmd?.close();
    imaged?.close();
    await stack?.close();
  });

  function expectRefused(s: Seen, field: string): void {
    expect(s.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(s.field).toBe(field);
    expect(s.fieldViolations).toEqual([field]);
    expect(s.details).not.toMatch(/UTF8|byte sequence|syntax|relation/i);
    expect(s.trailerBytes).toBeLessThan(4096);
  }

  it.each([
    ['a NUL byte', NUL_REF],
    ['5,000 characters', LONG_REF],
  ])('vmd: GetVm, DeleteVm and ExecVm refuse a ref with %s', async (_what, ref) => {
    expectRefused(await failure((cb) => vmd.getVm(vmv1.GetVmRequest.fromPartial({ ref }), cb)), 'ref');
    expectRefused(await failure((cb) => vmd.deleteVm(vmv1.DeleteVmRequest.fromPartial({ ref }), cb)), 'ref');
    expectRefused(await failure((cb) => vmd.execVm(vmv1.ExecVmRequest.fromPartial({ ref, command: { argv: ['true'] } }), cb)), 'ref');
  });

  it('vmd: CreateVm refuses a bad image, kernel or ssh key naming it, before an operation starts', async () => {
    const create = (req: Partial<vmv1.CreateVmRequest>): Promise<Seen> =>
      new Promise((resolve, reject) => {
        const stream = vmd.createVm(vmv1.CreateVmRequest.fromPartial({ name: 'dev', ...req }));
        stream.on('data', () => reject(new Error('an event was streamed')));
        stream.on('error', (err: grpc.ServiceError) => resolve(seen(err)));
        stream.on('end', () => reject(new Error('the create ended without an error')));
      });
    expectRefused(await create({ image: NUL_REF }), 'image');
    expectRefused(await create({ kernel: LONG_REF }), 'kernel');
    expectRefused(await create({ sshAuthorizedKeys: ['ssh-ed25519 AAAA\nssh-rsa BBBB'] }), 'ssh_authorized_keys[0]');
    const hv = await create({ hypervisor: vmv1.Hypervisor.HYPERVISOR_FIRECRACKER });
    expectRefused(hv, 'hypervisor');
    expect(hv.reason).toBe('HYPERVISOR_UNSUPPORTED');
    expect(hv.details).toMatch(/firecracker is not available: this vmd runs VMs under QEMU only/);
  });

  it.each([
    ['a NUL byte', NUL_REF],
    ['5,000 characters', LONG_REF],
  ])('vmd: GetOperation refuses an op id with %s', async (_what, opId) => {
    expectRefused(await failure((cb) => vmd.getOperation({ opId }, cb)), 'op_id');
  });

  it.each([
    ['a NUL byte', NUL_REF],
    ['5,000 characters', LONG_REF],
  ])('imaged: GetImage, DeleteImage, ResolveImage and GetKernel refuse a reference with %s', async (_what, ref) => {
    expectRefused(await failure((cb) => imaged.getImage(imagev1.GetImageRequest.fromPartial({ ref }), cb)), 'ref');
    expectRefused(await failure((cb) => imaged.deleteImage(imagev1.DeleteImageRequest.fromPartial({ ref }), cb)), 'ref');
    expectRefused(await failure((cb) => imaged.resolveImage(imagev1.ResolveImageRequest.fromPartial({ ref }), cb)), 'ref');
    expectRefused(await failure((cb) => imaged.resolveImage(imagev1.ResolveImageRequest.fromPartial({ ref: 'debian-bookworm', kernel: ref }), cb)), 'kernel');
    expectRefused(await failure((cb) => imaged.getKernel(imagev1.GetKernelRequest.fromPartial({ name: ref }), cb)), 'name');
    expectRefused(await failure((cb) => imaged.getOperation({ opId: ref }, cb)), 'op_id');
  });

  it('still answers NOT_FOUND for a well-formed reference that matches nothing', async () => {
    const s = await failure((cb) => vmd.getVm(vmv1.GetVmRequest.fromPartial({ ref: 'nope' }), cb));
    expect([s.code, s.reason]).toEqual([grpc.status.NOT_FOUND, 'VM_NOT_FOUND']);
    const i = await failure((cb) => imaged.getImage(imagev1.GetImageRequest.fromPartial({ ref: 'nope' }), cb));
    expect(i.code).toBe(grpc.status.NOT_FOUND);
  });
});
