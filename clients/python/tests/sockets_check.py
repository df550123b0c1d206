"""Prints default_vmd_socket for each case read from the JSON file named by argv[1] ([{"env": {...}, "uid": N}]), as JSON."""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from banger_client.client import default_vmd_socket  # noqa: E402

print(json.dumps([default_vmd_socket(c["env"], c["uid"]) for c in json.load(open(sys.argv[1]))]))
