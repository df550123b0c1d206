"""A thin client over vmd's generated stubs: a Unix socket channel, op ids, typed errors."""

import os
import secrets

import grpc

from banger.vm.v1 import guest_pb2, lifecycle_pb2, vm_service_pb2_grpc
from google.protobuf import duration_pb2

from .errors import error_from_rpc

API_VERSION = "1"
# The largest reply a banger daemon sends (MAX_REPLY_BYTES in packages/runtime/src/grpc/reply-limit.ts):
# grpc's default 4 MiB would refuse an ExecVm answer the server is allowed to send.
MAX_REPLY_BYTES = (32 << 20) + (64 << 10)
_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"


def mint_op_id():
    """An op id in banger's format: op- and 12 lowercase base32 characters."""
    return "op-" + "".join(_ALPHABET[b & 31] for b in secrets.token_bytes(12))


SYSTEM_RUN_DIR = "/run/banger"
SYSTEM_CONFIG = "/etc/banger/config.toml"


def _config_path(env, uid):
    """The config file the daemons read: BANGER_CONFIG, the user's, then the system one (as @banger/config)."""
    if env.get("BANGER_CONFIG"):
        return env["BANGER_CONFIG"]
    if uid != 0:
        home = env.get("HOME") or os.path.expanduser("~")
        user = os.path.join(env.get("XDG_CONFIG_HOME") or os.path.join(home, ".config"), "banger", "config.toml")
        if os.path.exists(user):
            return user
    return SYSTEM_CONFIG if os.path.exists(SYSTEM_CONFIG) else None


def _per_user_run_dir(env, uid):
    if uid == 0:
        return SYSTEM_RUN_DIR
    return os.path.join(env["XDG_RUNTIME_DIR"], "banger") if env.get("XDG_RUNTIME_DIR") else f"/tmp/banger-{uid}"


def default_vmd_socket(env=None, uid=None):
    """vmd's socket, found as the CLI finds it: BANGER_VMD_SOCKET; BANGER_RUN_DIR/vmd.sock; the
    config file the daemons read ([vmd] socket, else [paths] run_dir, with their BANGER_* env
    overrides, else the per-user run dir); without a readable one, /run/banger where it exists
    (a system install), else the per-user run dir ($XDG_RUNTIME_DIR/banger)."""
    env = os.environ if env is None else env
    uid = os.getuid() if uid is None else uid
    if env.get("BANGER_VMD_SOCKET"):
        return env["BANGER_VMD_SOCKET"]
    if env.get("BANGER_RUN_DIR"):
        return os.path.join(env["BANGER_RUN_DIR"], "vmd.sock")
    path = _config_path(env, uid)
    if path is not None:
        try:
            import tomllib

            with open(path, "rb") as f:
                config = tomllib.load(f)
            run_dir = env.get("BANGER_PATHS_RUN_DIR") or config.get("paths", {}).get("run_dir") or _per_user_run_dir(env, uid)
            return config.get("vmd", {}).get("socket") or os.path.join(run_dir, "vmd.sock")
        except (OSError, ValueError, ImportError):
            pass  # as the CLI: an unreadable or invalid config falls back to the install layout
    if uid == 0 or os.path.isdir(SYSTEM_RUN_DIR):
        return os.path.join(SYSTEM_RUN_DIR, "vmd.sock")
    return os.path.join(_per_user_run_dir(env, uid), "vmd.sock")


class Client:
    """vmd over its Unix socket. `stub` is the full generated VmService for any other RPC.

    Every call sends an op id (the `op_id` argument, else a fresh one) and banger's API
    version; failures raise BangerError with the reason and op id the daemon sent.
    """

    def __init__(self, vmd_socket=None, timeout=None):
        self.socket = vmd_socket or default_vmd_socket()
        self.timeout = timeout
        self.channel = grpc.insecure_channel(
            f"unix:{os.path.abspath(self.socket)}", options=[("grpc.max_receive_message_length", MAX_REPLY_BYTES)]
        )
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
