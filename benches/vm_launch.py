#!/usr/bin/env python3
# The Python side of benches/vm_launch.rs: python/qemu's QEMUMachine doing
# launch -> QMP ready -> quit -> reaped, N times.
#
#   vm_launch.py QEMU_SRC QEMU_PROG N ARGS...
#
# Prints one wall-clock duration in seconds per iteration.
import os
import sys
import tempfile
import time

src, prog, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
args = sys.argv[4:]
sys.path.insert(0, os.path.join(src, "python"))
from qemu.machine import QEMUMachine  # noqa: E402

with tempfile.TemporaryDirectory() as tmp:
    for _ in range(n):
        start = time.perf_counter()
        vm = QEMUMachine(prog, args=args, base_temp_dir=tmp)
        vm.launch()
        vm.shutdown()
        print(f"{time.perf_counter() - start:.6f}", flush=True)
