import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Any,
  Code,
  commonv1,
  ErrorInfo,
  helperv2,
  imagev1,
  reflectionPackageDefinition,
  serviceNames,
  Status,
  vmv1,
} from './index.js';

function fileName(fileDescriptorProto: Uint8Array): string {
  const reader = new BinaryReader(fileDescriptorProto);
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field === 1 && wireType === WireType.LengthDelimited) return reader.string();
    reader.skip(wireType);
  }
  return '';
}

describe('generated contracts', () => {
  it('round-trips an operation event with a oneof body and timestamps', () => {
    const event: vmv1.OperationEvent = {
      opId: 'op-abcdefghijkl',
      seq: 3,
      time: new Date(1_700_000_000_123),
      body: { $case: 'stageFinished', value: commonv1.StageFinished.fromPartial({ stage: 'boot', durationMs: 4200, ok: true }) },
    };
    const decoded = vmv1.OperationEvent.decode(vmv1.OperationEvent.encode(event).finish());
    expect(decoded).toEqual({ ...event, body: { $case: 'stageFinished', value: { stage: 'boot', durationMs: 4200, ok: true, skipped: false, message: '' } } });
  });

  it('carries an ErrorInfo inside google.rpc.Status', () => {
    const info = ErrorInfo.fromPartial({ reason: 'NAME_TAKEN', domain: 'vmd.banger.dev', metadata: { op_id: 'op-abcdefghijkl' } });
    const bin = Status.encode({
      code: Code.ALREADY_EXISTS,
      message: 'name taken',
      details: [Any.fromPartial({ typeUrl: 'type.googleapis.com/google.rpc.ErrorInfo', value: ErrorInfo.encode(info).finish() })],
    }).finish();
    const status = Status.decode(bin);
    expect(status.code).toBe(6);
    expect(status.details.map((d) => ErrorInfo.decode(d.value).metadata['op_id'])).toEqual(['op-abcdefghijkl']);
  });

  it('ships raw descriptors for every banger file and its imports', () => {
    const files = Object.values(reflectionPackageDefinition()).flatMap((p) => p.fileDescriptorProtos.map(fileName));
    expect(files).toEqual(
      expect.arrayContaining([
        'banger/vm/v1/vm_service.proto',
        'banger/image/v1/image_service.proto',
        'banger/helper/v2/helper_service.proto',
        'google/rpc/status.proto',
        'google/protobuf/timestamp.proto',
      ]),
    );
    expect(vmv1.VmServiceService.getVm.path).toBe(`/${serviceNames.vm}/GetVm`);
    expect(imagev1.ImageServiceService.resolveImage.path).toBe(`/${serviceNames.image}/ResolveImage`);
    expect(helperv2.HelperServiceService.launchHypervisor.path).toBe(`/${serviceNames.helper}/LaunchHypervisor`);
  });
});

describe('grpc-js service definitions', () => {
  let dir = '';
  let server: grpc.Server;
  let client: vmv1.VmServiceClient;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'banger-api-'));
    const address = `unix://${join(dir, 'vmd.sock')}`;
    server = new grpc.Server();
    const impl: Pick<vmv1.VmServiceServer, 'getVm' | 'createVm'> = {
      getVm: (call, callback) => {
        callback(null, { vm: vmv1.Vm.fromPartial({ id: 'a1b2', name: call.request.ref, state: vmv1.VmState.VM_STATE_RUNNING }) });
      },
      createVm: (call) => {
        call.write({
          event: { opId: 'op-abcdefghijkl', seq: 1, body: { $case: 'accepted', value: { opId: 'op-abcdefghijkl', kind: commonv1.OperationKind.OPERATION_KIND_VM_CREATE, target: call.request.name, targetId: '' } } },
        });
        call.end();
      },
    };
    server.addService(vmv1.VmServiceService, impl as unknown as grpc.UntypedServiceImplementation);
    await new Promise<void>((resolve, reject) => {
      server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve()));
    });
    client = new vmv1.VmServiceClient(address, grpc.credentials.createInsecure());
  });

  afterAll(() => {
    client.close();
    server.forceShutdown();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves a unary call over a Unix socket', async () => {
    const response = await new Promise<vmv1.GetVmResponse>((resolve, reject) => {
      client.getVm({ ref: 'dev', includeSecrets: false }, (err, res) => (err ? reject(err) : resolve(res)));
    });
    expect(response.vm?.name).toBe('dev');
    expect(response.vm?.state).toBe(vmv1.VmState.VM_STATE_RUNNING);
  });

  it('streams CreateVm events', async () => {
    const stream = client.createVm(vmv1.CreateVmRequest.fromPartial({ name: 'dev' }));
    const cases: string[] = [];
    for await (const message of stream as AsyncIterable<vmv1.CreateVmResponse>) {
      cases.push(`${message.event?.seq}:${message.event?.body?.$case}`);
    }
    expect(cases).toEqual(['1:accepted']);
  });
});
