"""banger_client: a Python client for banger's vmd, generated from proto/ (see ../generate.sh).

    from banger_client import Client, BangerError
    with Client() as banger:
        vm = banger.create_vm("dev")
        res = banger.exec("dev", ["uname", "-a"])
        banger.delete_vm("dev")
"""

import os
import sys

# The generated modules import each other as top-level `banger.*` and `google.rpc.*` (protoc's
# Python output cannot be re-rooted); _gen joins the path as one more portion of those packages.
_GEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_gen")
if _GEN not in sys.path:
    sys.path.append(_GEN)

from .client import Client, default_vmd_socket, mint_op_id  # noqa: E402
from .errors import BangerError, error_from_rpc  # noqa: E402

__all__ = ["BangerError", "Client", "default_vmd_socket", "error_from_rpc", "mint_op_id"]
