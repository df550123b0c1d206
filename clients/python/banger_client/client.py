"""A thin client over vmd's generated stubs: a Unix socket channel, op ids, typed errors."""

import os
import secrets

import grpc

from banger.vm.v1 import guest_pb2, lifecycle_pb2, vm_service_pb2_grpc
from google.protobuf import duration_pb2

from .errors import error_from_rpc

API_VERSION = "1"
_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"


def mint_op_id():
    """An op id in banger's format: op- and 12 lowercase base32 characters."""
    return "op-" + "".join(_ALPHABET[b & 31] for b in secrets.token_bytes(12))


def default_vmd_socket(env=None):
    """BANGER_VMD_SOCKET, else BANGER_RUN_DIR/vmd.sock, else /run/banger/vmd.sock (as the CLI)."""
    env = os.environ if env is None else env
    run_dir = env.get("BANGER_RUN_DIR") or "/run/banger"
    return env.get("BANGER_VMD_SOCKET") or f"{run_dir}/vmd.sock"


class Client:
    """vmd over its Unix socket. `stub` is the full generated VmService for any other RPC.

    Every call sends an op id (the `op_id` argument, else a fresh one) and banger's API
    version; failures raise BangerError with the reason and op id the daemon sent.
    """

    def __init__(self, vmd_socket=None, timeout=None):
        self.socket = vmd_socket or default_vmd_socket()
        self.timeout = timeout
        self.channel = grpc.insecure_channel(f"unix:{os.path.abspath(self.socket)}")
        self.stub = vm_service_pb2_grpc.VmServiceStub(self.channel)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.channel.close()

    def _meta(self, op_id):
        return (("x-op-id", op_id), ("x-banger-api-version", API_VERSION))

    def call(self, method, request, op_id=None, timeout=None):
        """One unary RPC by its stub name, e.g. call("GetVmStats", GetVmStatsRequest(ref="dev"))."""
        op_id = op_id or mint_op_id()
        try:
            return getattr(self.stub, method)(request, metadata=self._meta(op_id), timeout=timeout or self.timeout)
        except grpc.RpcError as err:
            raise error_from_rpc(err, op_id) from None

    def stream(self, method, request, op_id=None, timeout=None):
        """A server-streaming RPC as a generator of its responses."""
        op_id = op_id or mint_op_id()
        try:
            yield from getattr(self.stub, method)(request, metadata=self._meta(op_id), timeout=timeout or self.timeout)
        except grpc.RpcError as err:
            raise error_from_rpc(err, op_id) from None

    def server_info(self):
        return self.call("GetServerInfo", lifecycle_pb2.GetServerInfoRequest()).info

    def list_vms(self):
        return list(self.call("ListVms", lifecycle_pb2.ListVmsRequest()).vms)

    def get_vm(self, ref):
        return self.call("GetVm", lifecycle_pb2.GetVmRequest(ref=ref)).vm

    def create_vm_events(self, name, image="", memory_mib=0, vcpus=0, no_wait=False, op_id=None, timeout=None):
        """Creates a VM, yielding each OperationEvent (accepted, stages, progress, the final vm)."""
        request = lifecycle_pb2.CreateVmRequest(name=name, image=image, memory_mib=memory_mib, vcpus=vcpus, no_wait=no_wait)
        for response in self.stream("CreateVm", request, op_id=op_id, timeout=timeout):
            yield response.event

    def create_vm(self, name, **kwargs):
        """Creates a VM and returns it once the create finished."""
        vm = None
        for event in self.create_vm_events(name, **kwargs):
            if event.WhichOneof("body") == "vm":
                vm = event.vm
        if vm is None:
            raise RuntimeError("the create stream ended without the VM")
        return vm

    def exec(self, ref, argv, stdin=b"", timeout_seconds=None, user="", working_dir="", env=None, op_id=None):
        """Runs an argument vector in the guest; returns ExecVmResponse (status, stdout, stderr)."""
        command = guest_pb2.ExecCommand(argv=list(argv), stdin=stdin, user=user, working_dir=working_dir, env=env or {})
        rpc_timeout = None
        if timeout_seconds is not None:
            command.timeout.CopyFrom(duration_pb2.Duration(seconds=int(timeout_seconds), nanos=int((timeout_seconds % 1) * 1e9)))
            rpc_timeout = timeout_seconds + 60
        return self.call("ExecVm", guest_pb2.ExecVmRequest(ref=ref, command=command), op_id=op_id, timeout=rpc_timeout)

    def delete_vm(self, ref, force=False, op_id=None):
        return self.call("DeleteVm", lifecycle_pb2.DeleteVmRequest(ref=ref, force=force), op_id=op_id).vm
