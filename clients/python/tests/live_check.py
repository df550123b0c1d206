"""Live check of banger_client against a running vmd (BANGER_RUN_DIR / BANGER_VMD_SOCKET).

    /usr/bin/python3 clients/python/tests/live_check.py NAME

Creates VM NAME, runs a command in it, deletes it, and provokes two errors to read their
reason and op id from the status's ErrorInfo. Asserts as it goes (exit 1 on the first failed
check) and prints one JSON line of what it saw, for integration/clients/agent-clients.test.ts.
"""

import json
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from banger_client import BangerError, Client, mint_op_id  # noqa: E402

OP_ID = re.compile(r"^op-[a-z2-7]{12}$")


def expect_error(fn):
    try:
        fn()
    except BangerError as err:
        return err
    raise AssertionError("expected a BangerError")


def main(name):
    out = {}
    with Client(timeout=900) as banger:
        info = banger.server_info()
        assert info.name == "vmd", info
        out["server"] = {"name": info.name, "api": info.api_version}

        stages, op_ids = [], set()
        for event in banger.create_vm_events(name, memory_mib=512, no_wait=True):
            op_ids.add(event.op_id)
            kind = event.WhichOneof("body")
            if kind == "stage_finished":
                stages.append(event.stage_finished.stage)
            elif kind == "vm":
                out["vm"] = {"name": event.vm.name, "state": event.vm.state}
        assert out.get("vm", {}).get("name") == name, out
        assert len(op_ids) == 1 and OP_ID.match(op_ids.pop()), "one op id on every event"
        out["stages"] = stages

        res = banger.exec(name, ["sh", "-c", "cat; echo py-out; echo py-err >&2; exit 5"], stdin=b"in:", timeout_seconds=60)
        assert (res.status.exit_code, res.stdout, res.stderr) == (5, b"in:py-out\n", b"py-err\n"), res
        out["exec"] = {"exit": res.status.exit_code, "stdout": res.stdout.decode()}

        mine = mint_op_id()
        bad = expect_error(lambda: banger.create_vm("Not_A_Label", op_id=mine))
        assert bad.code_name == "INVALID_ARGUMENT", bad.code_name
        assert bad.op_id == mine, (bad.op_id, mine)
        out["invalid"] = {"code": bad.code_name, "reason": bad.reason, "op_id": bad.op_id, "sent": mine, "field": bad.metadata.get("field")}

        missing = expect_error(lambda: banger.get_vm("no-such-vm"))
        assert missing.reason == "VM_NOT_FOUND" and OP_ID.match(missing.op_id or ""), (missing.reason, missing.op_id)
        out["missing"] = {"code": missing.code_name, "reason": missing.reason, "op_id": missing.op_id}

        deleted = banger.delete_vm(name, force=True)
        assert deleted.name == name, deleted
        assert name not in [vm.name for vm in banger.list_vms()]
        out["deleted"] = deleted.name
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "py-check")
