"""banger's errors as Python exceptions: the gRPC code plus the google.rpc.Status details."""

import grpc

from google.rpc import error_details_pb2, status_pb2

STATUS_DETAILS_KEY = "grpc-status-details-bin"
ERROR_DOMAIN = "banger.dev"


class BangerError(Exception):
    """A failed call: gRPC code, banger's stable UPPER_SNAKE reason, the op id and extra fields.

    The reason and op id come from the google.rpc.ErrorInfo every banger daemon puts in the
    status details (grpc-status-details-bin trailer), so a script can branch on the reason and
    quote the op id to an operator.
    """

    def __init__(self, code, message, reason, op_id, metadata, field_violations=()):
        super().__init__(f"{message} ({op_id})" if op_id else message)
        self.code = code
        self.message = message
        self.reason = reason
        self.op_id = op_id
        self.metadata = dict(metadata)
        self.field_violations = list(field_violations)

    @property
    def code_name(self):
        return self.code.name if isinstance(self.code, grpc.StatusCode) else str(self.code)


def error_from_rpc(err, sent_op_id=None):
    """Decodes a grpc.RpcError into BangerError (reason and op id from ErrorInfo when present)."""
    code = err.code() if hasattr(err, "code") else grpc.StatusCode.UNKNOWN
    message = err.details() if hasattr(err, "details") else str(err)
    reason, op_id, metadata, violations = None, None, {}, []
    trailers = err.trailing_metadata() if hasattr(err, "trailing_metadata") else None
    for key, value in trailers or ():
        if key == STATUS_DETAILS_KEY:
            status = status_pb2.Status.FromString(value)
            for any_ in status.details:
                if any_.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                    info = error_details_pb2.ErrorInfo()
                    any_.Unpack(info)
                    reason = info.reason
                    metadata = dict(info.metadata)
                elif any_.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                    br = error_details_pb2.BadRequest()
                    any_.Unpack(br)
                    violations = [(v.field, v.description) for v in br.field_violations]
        elif key == "x-op-id" and op_id is None:
            op_id = value
    op_id = metadata.pop("op_id", None) or op_id or sent_op_id
    return BangerError(code, message or "", reason or (code.name if code else "UNKNOWN"), op_id, metadata, violations)
