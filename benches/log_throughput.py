#!/usr/bin/env python3
# The Python side of benches/log_throughput.rs: the same work done by
# iotests.py's own functions (log, filters, ordered_qmp) on the same input.
#
#   log_throughput.py QEMU_SRC INPUT OUTPUT
#
# INPUT holds one JSON operation per line (see the Rust side); OUTPUT gets
# everything iotests.log() printed. Prints the processing time in seconds.
import io
import json
import logging
import os
import sys
import time
from collections import OrderedDict

src, inp, outp = sys.argv[1:4]
sys.path.insert(0, os.path.join(src, "python"))
sys.path.insert(0, os.path.join(src, "tests", "qemu-iotests"))
scope = json.loads(open(inp).readline())
os.environ.update({
    "TEST_DIR": scope["test_dir"], "SOCK_DIR": scope["sock_dir"],
    "CACHEMODE": "writeback", "AIOMODE": "threads",
    "QEMU_DEFAULT_MACHINE": "pc", "SAMPLE_IMG_DIR": "/nonexistent",
    "IMGFMT": scope["imgfmt"],
})
import iotests  # noqa: E402

# iotests' filter_testfiles uses os.getpid(): pretend to be the Rust PID.
os.getpid = lambda: scope["pid"]

buf = io.StringIO()
handler = logging.StreamHandler(stream=buf)
handler.setFormatter(logging.Formatter('%(message)s'))
iotests.test_logger.addHandler(handler)
iotests.test_logger.setLevel(logging.INFO)
iotests.test_logger.propagate = False

with open(inp) as f:
    f.readline()
    lines = f.readlines()

# Messages arrive parsed (the QMP client returns objects), a few at a time:
# parse a chunk untimed, then time logging it (as the Rust side does).
CHUNK = 1000
elapsed = 0.0
for c in range(0, len(lines), CHUNK):
    ops = [json.loads(line) for line in lines[c:c + CHUNK]]
    start = time.perf_counter()
    for op in ops:
        kind = op["kind"]
        if kind == "io":
            iotests.log(op["text"], filters=[iotests.filter_testfiles, iotests.filter_qemu_io])
        elif kind == "event":
            iotests.log(op["msg"], filters=[iotests.filter_qmp_event])
        else:
            full_cmd = OrderedDict((("execute", op["cmd"]), ("arguments", iotests.ordered_qmp(op["args"]))))
            iotests.log(full_cmd, [iotests.filter_qmp_testfiles], indent=op.get("indent"))
            iotests.log(op["resp"], [iotests.filter_qmp_testfiles], indent=op.get("indent"))
    elapsed += time.perf_counter() - start
with open(outp, "w") as f:
    f.write(buf.getvalue())
print(f"{elapsed:.6f}")
