"""Runs ExecVm through banger_client against the socket in argv[1]; prints the reply's stream sizes (or the error) as JSON."""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from banger_client.client import Client  # noqa: E402
from banger_client.errors import BangerError  # noqa: E402

with Client(vmd_socket=sys.argv[1], timeout=60) as c:
    try:
        res = c.exec("big", ["x"])
        print(json.dumps({"stdout": len(res.stdout), "stderr": len(res.stderr)}))
    except BangerError as e:
        print(json.dumps({"error": str(e)}))
