import * as vmv1 from '@banger/api/vm';
import type { CallOptions } from '@banger/runtime';
import type { VmClient } from '../context.js';
import type { FilesPort } from './guest-files.js';

/** The part of vmd's client the exec tool needs. */
export interface ExecPort {
  execVm(request: vmv1.ExecVmRequest, opts: CallOptions): Promise<vmv1.ExecVmResponse>;
}

/**
 * The vmd calls the MCP tools make, as one small port: the tools are tested with a fake of it,
 * and the server hands them the CLI's own client.
 */
export interface McpVmd extends ExecPort, FilesPort {
  listVms(opts: CallOptions): Promise<vmv1.Vm[]>;
  getVm(ref: string, opts: CallOptions): Promise<vmv1.Vm>;
  createVm(request: vmv1.CreateVmRequest, opts: CallOptions): AsyncIterable<vmv1.OperationEvent>;
  deleteVm(ref: string, force: boolean, opts: CallOptions): Promise<vmv1.Vm | undefined>;
  forkVm(request: vmv1.ForkVmRequest, opts: CallOptions): AsyncIterable<vmv1.OperationEvent>;
  getVmPorts(ref: string, opts: CallOptions): Promise<vmv1.GetVmPortsResponse>;
}

async function* events(stream: AsyncIterable<{ event?: vmv1.OperationEvent | undefined }>): AsyncGenerator<vmv1.OperationEvent> {
  for await (const msg of stream) if (msg.event) yield msg.event;
}

export function mcpVmd(client: VmClient): McpVmd {
  return {
    listVms: async (opts) => (await client.unary('listVms', vmv1.ListVmsRequest.fromPartial({}), opts)).vms,
    async getVm(ref, opts) {
      const res = await client.unary('getVm', vmv1.GetVmRequest.fromPartial({ ref }), opts);
      if (!res.vm) throw new Error('vmd answered GetVm without a VM');
      return res.vm;
    },
    createVm: (request, opts) => events(client.serverStream('createVm', request, opts)),
    forkVm: (request, opts) => events(client.serverStream('forkVm', request, opts)),
    deleteVm: async (ref, force, opts) => (await client.unary('deleteVm', vmv1.DeleteVmRequest.fromPartial({ ref, force }), opts)).vm,
    getVmPorts: (ref, opts) => client.unary('getVmPorts', vmv1.GetVmPortsRequest.fromPartial({ ref }), opts),
    execVm: (request, opts) => client.unary('execVm', request, opts),
    async uploadFiles(target, chunks, opts) {
      const call = client.clientStream('uploadFiles', opts);
      call.write({ msg: { $case: 'target', value: target } });
      for (const chunk of chunks) {
        if (!call.write({ msg: { $case: 'data', value: chunk } })) await Promise.race([call.onDrain(), call.response.then(() => undefined, () => undefined)]);
      }
      call.end();
      return call.response;
    },
    downloadFiles: (request, opts) => client.serverStream('downloadFiles', request, opts),
  };
}
