import { imagev1, vmv1, type commonv1 } from '@banger/api';
import { ServiceClient, type CallOptions, type ResponseStream } from '@banger/runtime/client';
import { msToDuration } from '@banger/runtime/duration';
import { OperationCall } from './operation-call.js';
import { resolveSockets, type SocketOptions } from './sockets.js';

export type VmService = ServiceClient<typeof vmv1.VmServiceService>;
export type ImageService = ServiceClient<typeof imagev1.ImageServiceService>;

export type ClientOptions = SocketOptions;

/** What `exec` takes besides the argument vector. */
export interface ExecOptions extends CallOptions {
  stdin?: Uint8Array | string;
  env?: Record<string, string>;
  user?: string;
  workingDir?: string;
  /** Kill the guest command after this long (the answer says timedOut). */
  commandTimeoutMs?: number;
  /** Keep at most this much of each of stdout and stderr (default 1 MiB, at most 16 MiB). */
  maxOutputBytes?: number;
}

function events<M extends { event?: E | undefined }, E>(stream: ResponseStream<M>): ResponseStream<E> {
  async function* unwrap(): AsyncGenerator<E> {
    for await (const m of stream) if (m.event) yield m.event;
  }
  const it = unwrap();
  return { opId: stream.opId, cancel: () => stream.cancel(), [Symbol.asyncIterator]: () => it };
}

function must<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`the daemon answered without ${what}`);
  return value;
}

/**
 * banger for programs: vmd and imaged on their Unix sockets, typed calls for the common tasks,
 * and the full generated services as `vmd` and `images` for everything else. Every call sends
 * an op id (yours in `opId`, else a fresh one); failures throw RpcError with the gRPC code, the
 * stable reason and the op id from the status's ErrorInfo.
 */
export class BangerClient {
  /** Every VmService RPC, typed: `client.vmd.unary('getVmStats', { ref })`. */
  readonly vmd: VmService;
  /** Every ImageService RPC, typed. */
  readonly images: ImageService;

  constructor(options: ClientOptions = {}) {
    const sockets = resolveSockets(options);
    this.vmd = new ServiceClient(vmv1.VmServiceService, sockets.vmd, { peer: 'vmd' });
    this.images = new ServiceClient(imagev1.ImageServiceService, sockets.imaged, { peer: 'imaged' });
  }

  async serverInfo(opts?: CallOptions): Promise<commonv1.ServerInfo> {
    return must((await this.vmd.unary('getServerInfo', {}, opts)).info, 'server info');
  }

  async listVms(filter: Partial<vmv1.ListVmsRequest> = {}, opts?: CallOptions): Promise<vmv1.Vm[]> {
    return (await this.vmd.unary('listVms', vmv1.ListVmsRequest.fromPartial(filter), opts)).vms;
  }

  async getVm(ref: string, opts?: CallOptions): Promise<vmv1.Vm> {
    return must((await this.vmd.unary('getVm', vmv1.GetVmRequest.fromPartial({ ref }), opts)).vm, 'the VM');
  }

  /** Starts a create: iterate the returned call for its events, or `await call.result()` for the VM. */
  createVm(request: Partial<vmv1.CreateVmRequest> & { name: string }, opts?: CallOptions): OperationCall<vmv1.OperationEvent, vmv1.Vm> {
    const stream = this.vmd.serverStream('createVm', vmv1.CreateVmRequest.fromPartial(request), opts);
    return new OperationCall(events<vmv1.CreateVmResponse, vmv1.OperationEvent>(stream), 'vm');
  }

  /** Starts a fork of a running VM: iterate for its events (clone stages are CLONE:STAGE), or `await call.result()` for the ForkResult. */
  forkVm(request: Partial<vmv1.ForkVmRequest> & { ref: string; count: number }, opts?: CallOptions): OperationCall<vmv1.OperationEvent, vmv1.ForkResult> {
    const stream = this.vmd.serverStream('forkVm', vmv1.ForkVmRequest.fromPartial(request), opts);
    return new OperationCall(events<vmv1.ForkVmResponse, vmv1.OperationEvent>(stream), 'fork');
  }

  async deleteVm(ref: string, options: { force?: boolean } & CallOptions = {}): Promise<vmv1.Vm | undefined> {
    const { force, ...opts } = options;
    return (await this.vmd.unary('deleteVm', vmv1.DeleteVmRequest.fromPartial({ ref, force: force ?? false }), opts)).vm;
  }

  /** Runs an argument vector in the guest (no shell) and answers its output and exit status. */
  async exec(ref: string, argv: readonly string[], options: ExecOptions = {}): Promise<vmv1.ExecVmResponse> {
    const { stdin, env, user, workingDir, commandTimeoutMs, maxOutputBytes, ...opts } = options;
    const command = vmv1.ExecCommand.fromPartial({
      argv: [...argv],
      env: env ?? {},
      user: user ?? '',
      workingDir: workingDir ?? '',
      stdin: typeof stdin === 'string' ? Buffer.from(stdin) : (stdin ?? new Uint8Array()),
      ...(commandTimeoutMs === undefined ? {} : { timeout: msToDuration(commandTimeoutMs) }),
    });
    return this.vmd.unary('execVm', vmv1.ExecVmRequest.fromPartial({ ref, command, maxOutputBytes: maxOutputBytes ?? 0 }), opts);
  }

  async ports(ref: string, opts?: CallOptions): Promise<vmv1.GetVmPortsResponse> {
    return this.vmd.unary('getVmPorts', vmv1.GetVmPortsRequest.fromPartial({ ref }), opts);
  }

  async listImages(opts?: CallOptions): Promise<imagev1.Image[]> {
    return (await this.images.unary('listImages', imagev1.ListImagesRequest.fromPartial({}), opts)).images;
  }

  close(): void {
    this.vmd.close();
    this.images.close();
  }
}
