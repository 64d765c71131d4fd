#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Fault injection over the VM tests: the toolkit's promises under signals.

Runs VM tests of tests/iotests through `iotests check` (the runner a user
runs), one at a time, and in each run sends one signal — SIGKILL, SIGTERM
or SIGINT — at a random moment, either to a QEMU process of the test
(qemu-system, qemu-img, qemu-io, qemu-nbd and its forked daemons,
qemu-storage-daemon) or to the test process itself. After each run it
looks for:

  hangs              the run did not end within --hang-after seconds
  unclear failures   the test failed, and its report names neither the
                     killed process (its PID, or its name with the signal)
                     nor, for the test process, the signal that killed it
  leaked processes   any process left that belongs to the run (its session,
                     or a command line naming its scratch directories)
  leaked files       anything left in the run's TEST_DIR, SOCK_DIR, TMPDIR
  snapshot damage    any change under the snapshot directory (a .snap
                     changed, a .snap.new written although CI=true)

and prints a table of the counts. Everything but "failed, naming the
killed process" should be 0.

Not part of `cargo test`: it takes minutes (about 10 s a run, most of it
`check` listing the tests). Usage:

  tools/fault-inject.py [-n RUNS] [--seed N] [--tests t194,qsd_migrate,...]
                        [--cli PATH] [--test-binary PATH] [--hang-after S]

The CLI and the test binary are built (cargo) unless given.
"""

import argparse
import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# VM tests that run in a few seconds; each starts QEMU processes of some
# kind (VMs, storage daemons, NBD servers and forked daemons, qemu-io).
DEFAULT_TESTS = [
    "t141", "t194", "t202", "t203", "t208", "t212", "t216", "t218", "t228", "t234", "t238", "t242",
    "t246", "t248", "t254", "t256", "t258", "t260", "t262", "t280", "t299", "t304", "t307", "t310",
    "qsd_migrate", "nbd_reconnect_on_open", "iothreads_stream", "iothreads_commit_active",
    "inactive_node_nbd", "mirror_top_perms", "remove_bitmap_from_backing", "stream_unaligned_prefetch",
    "t129", "copy_before_write", "t213", "t255", "t266",
]

SIGNALS = [signal.SIGKILL, signal.SIGTERM, signal.SIGINT]

# What a QEMU process is called in messages, by its (15-byte) comm.
TOOL_NAMES = {
    "qemu-system-x86": "qemu",
    "qemu-storage-d": "qemu-storage-daemon",
    "qemu-nbd": "qemu-nbd",
    "qemu-io": "qemu-io",
    "qemu-img": "qemu-img",
}


def build(args):
    """The CLI and the test binary, built if not given."""
    if not args.cli:
        subprocess.run(["cargo", "build", "-q", "-p", "iotests-cli"], cwd=ROOT, check=True)
        args.cli = os.path.join(ROOT, "target", "debug", "iotests")
    if not args.test_binary:
        out = subprocess.run(["cargo", "test", "--test", "iotests", "--no-run"], cwd=ROOT, check=True,
                             capture_output=True, text=True).stderr
        for line in out.splitlines():
            if "Executable tests/iotests/main.rs" in line:
                path = line.split("(", 1)[1].rstrip(")")
                args.test_binary = path if os.path.isabs(path) else os.path.join(ROOT, path)
        if not args.test_binary:
            sys.exit("cannot find the tests/iotests binary in cargo's output:\n" + out)


class Proc:
    """One line of /proc."""

    def __init__(self, pid):
        self.pid = pid
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
        self.comm = stat[stat.index("(") + 1:stat.rindex(")")]
        rest = stat[stat.rindex(")") + 2:].split()
        self.state, self.ppid, self.sid = rest[0], int(rest[1]), int(rest[3])
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            self.cmdline = f.read().replace(b"\0", b" ").decode(errors="replace").strip()

    def exe(self):
        try:
            return os.path.realpath(f"/proc/{self.pid}/exe")
        except OSError:
            return ""

    def environ(self):
        try:
            with open(f"/proc/{self.pid}/environ", "rb") as f:
                return f.read().split(b"\0")
        except OSError:
            return []


def processes():
    procs = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                p = Proc(int(name))
            except (OSError, ValueError, IndexError):
                continue
            if p.state not in ("Z", "X"):
                procs[p.pid] = p
    return procs


def descendants(procs, pid):
    children = {}
    for p in procs.values():
        children.setdefault(p.ppid, []).append(p.pid)
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def belongs(p, run_root, sid):
    return p.sid == sid or run_root in p.cmdline


def snapshot_digest(directory):
    digest = {}
    for dirpath, _, files in os.walk(directory):
        for f in files:
            path = os.path.join(dirpath, f)
            with open(path, "rb") as fh:
                digest[os.path.relpath(path, directory)] = hashlib.sha256(fh.read()).hexdigest()
    return digest


def leftovers(run_root):
    left = []
    for sub in ("test", "sock", "tmp"):
        d = os.path.join(run_root, sub)
        for dirpath, dirs, files in os.walk(d):
            left += [os.path.join(dirpath, x) for x in dirs + files]
    return left


def names_the_victim(output, victim, sig):
    """Whether the failure report names what was killed."""
    signame = signal.Signals(sig).name
    if victim["kind"] == "test":
        return f"killed by signal {signame}" in output
    name = TOOL_NAMES.get(victim["comm"], victim["comm"])
    if f"pid {victim['pid']}" in output or f"(pid {victim['pid']})" in output:
        return True
    mentions_signal = signame in output or f"signal {int(sig)}" in output
    return name in output and mentions_signal


def one_run(args, rng, test, snapshots_before):
    run_root = tempfile.mkdtemp(prefix="fi-", dir="/tmp")
    for sub in ("test", "sock", "tmp"):
        os.mkdir(os.path.join(run_root, sub))
    env = dict(os.environ)
    env.update({
        "TEST_DIR": os.path.join(run_root, "test"),
        "SOCK_DIR": os.path.join(run_root, "sock"),
        "TMPDIR": os.path.join(run_root, "tmp"),
        "CI": "true",
    })
    env.pop("IOTESTS_KEEP_SCRATCH", None)
    log_path = os.path.join(run_root, "check.log")
    cmd = [args.cli, "check", "--manifest-path", os.path.join(ROOT, "Cargo.toml"),
           "--test-binary", args.test_binary, "--timeout", str(args.test_timeout), "--color", "off", test]
    kind = rng.choice(["child", "test"])
    sig = rng.choice(SIGNALS)
    victim = None
    binary = os.path.realpath(args.test_binary)
    start = time.monotonic()
    with open(log_path, "wb") as log:
        check = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, start_new_session=True)
        sid = check.pid
        # The moment: a random delay once the test process (or one of its
        # QEMU processes) is there.
        delay = rng.uniform(0.0, args.max_delay)
        seen_at = None
        while check.poll() is None and victim is None:
            if time.monotonic() - start > args.hang_after:
                break
            procs = processes()
            # The test process: a child of check running the test binary
            # (not its listing run, nor the binary's own forks — the
            # spawner's children before exec, the reaper).
            tests = [p for p in procs.values()
                     if p.ppid == check.pid and p.exe() == binary
                     and b"IOTESTS_LIST=1" not in p.environ()]
            if tests:
                candidates = tests
                if kind == "child":
                    tpid = tests[0].pid
                    candidates = [procs[p] for p in descendants(procs, tpid)
                                  if p in procs and procs[p].comm in TOOL_NAMES]
                    candidates += [p for p in procs.values()
                                   if p.comm in TOOL_NAMES and run_root in p.cmdline
                                   and p.pid not in [c.pid for c in candidates]]
                if candidates:
                    if seen_at is None:
                        seen_at = time.monotonic()
                    if time.monotonic() - seen_at >= delay:
                        p = rng.choice(candidates)
                        victim = {"kind": kind, "pid": p.pid, "comm": p.comm}
                        try:
                            os.kill(p.pid, sig)
                        except ProcessLookupError:
                            victim = None
                            seen_at = None
                        break
            time.sleep(0.02)
        hung = False
        try:
            check.wait(timeout=max(1, args.hang_after - (time.monotonic() - start)))
        except subprocess.TimeoutExpired:
            hung = True
            os.killpg(check.pid, signal.SIGKILL)
            check.wait()
    elapsed = time.monotonic() - start
    time.sleep(1.0)  # the reaper and init take their moment
    procs = processes()
    me = os.getpid()
    leaked = [p for p in procs.values() if p.pid != me and belongs(p, run_root, sid)]
    for p in leaked:
        try:
            os.kill(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    files = leftovers(run_root)
    snapshots_after = snapshot_digest(args.snapshots)
    damaged = sorted(set(snapshots_after.items()) ^ set(snapshots_before.items()))
    with open(log_path, errors="replace") as f:
        output = f.read()
    failed = check.returncode != 0
    result = {
        "test": test, "kind": kind, "signal": signal.Signals(sig).name, "victim": victim,
        "hung": hung, "failed": failed, "elapsed": elapsed,
        "clear": (not failed) or victim is None or names_the_victim(output, victim, sig),
        "leaked_processes": [f"{p.pid} {p.comm}: {p.cmdline[:150]}" for p in leaked],
        "leaked_files": files, "damage": [d[0] for d in damaged], "log": log_path,
    }
    if not (hung or files or leaked or damaged or not result["clear"]) and not args.keep:
        shutil.rmtree(run_root, ignore_errors=True)
    else:
        result["kept"] = run_root
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", "--runs", type=int, default=100, help="runs with a fault injected (default 100)")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--tests", default=",".join(DEFAULT_TESTS), help="comma-separated test modules")
    ap.add_argument("--cli", help="the iotests command (default: built)")
    ap.add_argument("--test-binary", help="the tests/iotests binary (default: built)")
    ap.add_argument("--snapshots", default=os.path.join(ROOT, "snapshots"))
    ap.add_argument("--test-timeout", type=int, default=60, help="check --timeout (default 60)")
    ap.add_argument("--hang-after", type=float, default=150.0, help="a run longer than this hangs")
    ap.add_argument("--max-delay", type=float, default=1.5, help="longest delay before the signal")
    ap.add_argument("--keep", action="store_true", help="keep every run's directory")
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    build(args)
    tests = [t for t in args.tests.split(",") if t]
    before = snapshot_digest(args.snapshots)
    results, attempts = [], 0
    print(f"seed {seed}; {args.runs} runs over {len(tests)} tests", flush=True)
    while len(results) < args.runs and attempts < 3 * args.runs:
        attempts += 1
        r = one_run(args, rng, rng.choice(tests), before)
        if r["victim"] is None and not r["hung"]:
            continue  # the test ended before anything could be killed
        results.append(r)
        flags = [k for k in ("hung", "leaked_processes", "leaked_files", "damage") if r[k]]
        if not r["clear"]:
            flags.append("UNCLEAR")
        v = r["victim"] or {}
        print(f"{len(results):4d} {r['test']:<28} {r['signal']:<8} -> {r['kind']:<5} {v.get('comm', '?'):<16}"
              f" {'failed' if r['failed'] else 'passed':<7} {r['elapsed']:6.1f}s {' '.join(flags)}"
              + (f"  (kept {r['kept']})" if "kept" in r else ""), flush=True)
        for k in ("leaked_processes", "leaked_files", "damage"):
            for item in r[k][:5]:
                print(f"       {k}: {item}", flush=True)
    print_table(results, seed)
    bad = sum(1 for r in results if r["hung"] or not r["clear"] or r["leaked_processes"] or r["leaked_files"]
              or r["damage"])
    sys.exit(1 if bad else 0)


def print_table(results, seed):
    def count(pred):
        return sum(1 for r in results if pred(r))

    by = {}
    for r in results:
        by.setdefault((r["kind"], r["signal"]), []).append(r)
    rows = [("runs with a fault injected", len(results))]
    for (kind, sig), rs in sorted(by.items()):
        what = "a QEMU process" if kind == "child" else "the test process"
        rows.append((f"  {sig} to {what}", len(rs)))
    rows += [
        ("passed all the same", count(lambda r: not r["failed"] and not r["hung"])),
        ("failed, naming the killed process", count(lambda r: r["failed"] and r["clear"] and not r["hung"])),
        ("hangs", count(lambda r: r["hung"])),
        ("unclear failures", count(lambda r: not r["clear"])),
        ("leaked processes", count(lambda r: r["leaked_processes"])),
        ("leaked files", count(lambda r: r["leaked_files"])),
        ("snapshot damage", count(lambda r: r["damage"])),
    ]
    width = max(len(k) for k, _ in rows)
    print(f"\nfault injection, seed {seed}\n")
    print(f"| {'':<{width}} | runs |")
    print(f"|{'-' * (width + 2)}|-----:|")
    for k, v in rows:
        print(f"| {k:<{width}} | {v:>4} |")


if __name__ == "__main__":
    main()
