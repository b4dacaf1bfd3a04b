#!/usr/bin/env python3
"""fusegraph's CPU column against numpy (with its OpenBLAS), side by side in one run.

For each case it alternates, --rounds times, a `fusegraph bench --cpu-only --op OP --size N --json`
process and the numpy equivalent (same machine, same cores, all threads), so that a noisy neighbour or
a clock change hits both sides alike; each side's figure is the median over rounds of its per-round
median. It prints (and with --markdown FILE writes) a table of medians and ratios:

    matmul                x @ w
    add                   a + b
    gelu                  0.5 * x * (1 + erf(x / sqrt 2))          (scipy.special.erf)
    fused_matmul_add_gelu gelu(x @ w + b), unfused as numpy must

ratio = fusegraph time / numpy time (below 1: fusegraph is faster). Also prints the issue's targets:
matmul at most 1.1x numpy, fused 1024 at most 1.15x our own matmul, GELU 10M at least 5 GB/s, Add 10M at
least numpy's throughput.

usage: python3 bench/numpy_compare.py [--quick] [--rounds 3] [--build build] [--markdown FILE]
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

try:
    from scipy.special import erf
except ImportError:  # numpy alone has no vectorised erf
    erf = None


def median_ms(function, repeats):
    function()
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def numpy_case(op, shape, quick):
    rng = np.random.default_rng(1)
    if op in ("matmul", "fused_matmul_add_gelu"):
        n = shape[0]
        x = rng.uniform(-1, 1, (n, n)).astype(np.float32)
        w = rng.uniform(-1, 1, (n, n)).astype(np.float32)
        b = rng.uniform(-1, 1, n).astype(np.float32)
        repeats = 3 if quick else (9 if n <= 2048 else 5)
        if op == "matmul":
            return median_ms(lambda: x @ w, repeats)
        if erf is None:
            return None
        return median_ms(lambda: (lambda h: 0.5 * h * (1 + erf(h * np.float32(0.7071067811865476))))(x @ w + b), repeats)
    n = shape[0]
    a = rng.uniform(-1, 1, n).astype(np.float32)
    b = rng.uniform(-1, 1, n).astype(np.float32)
    repeats = 5 if quick else (25 if n <= 1_000_000 else 9 if n <= 10_000_000 else 5)
    if op == "add":
        return median_ms(lambda: a + b, repeats)
    if erf is None:
        return None
    return median_ms(lambda: 0.5 * a * (1 + erf(a * np.float32(0.7071067811865476))), repeats)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--build", default="build")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--markdown", help="write the table to this Markdown file")
    args = parser.parse_args()

    cases = [(op, size) for op in ("matmul", "add", "gelu", "fused_matmul_add_gelu")
             for size in ((1024, 2048, 4096) if "matmul" in op else (1_000_000, 10_000_000, 100_000_000))
             if not (args.quick and size in (4096, 100_000_000))]
    rows = []
    ours = {}
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "bench.json")
        for op, size in cases:
            print(f"{op} {size}", file=sys.stderr, flush=True)
            our_rounds, their_rounds = [], []
            for _ in range(args.rounds):
                command = [os.path.join(args.build, "fusegraph"), "bench", "--cpu-only", "--op", op, "--size", str(size),
                           "--json", path] + (["--quick"] if args.quick else [])
                subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
                with open(path) as f:
                    result = next(r for r in json.load(f)["results"] if r["device"] == "cpu")
                our_rounds.append(result)
                their_rounds.append(numpy_case(op, result["shape"], args.quick))
            result = sorted(our_rounds, key=lambda r: r["median_ms"])[len(our_rounds) // 2]
            theirs = statistics.median(their_rounds) if None not in their_rounds else None
            ours[(op, size)] = result["median_ms"]
            rows.append((result, theirs))

    lines = []
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    lines.append(f"Machine: {cpu}, {os.cpu_count()} cores; numpy {np.__version__}"
                 f"{'' if erf is not None else ' (no scipy: GELU rows skipped)'}; "
                 f"{args.rounds} alternating rounds; command: `python3 bench/numpy_compare.py{' --quick' if args.quick else ''} --rounds {args.rounds}`")
    lines.append("")
    lines.append("| op | shape | fusegraph ms | numpy ms | ratio (fusegraph / numpy) | fusegraph GFLOP/s | fusegraph GB/s |")
    lines.append("|---|---|---:|---:|---:|---:|---:|")
    for r, theirs in rows:
        shape = "x".join(str(d) for d in r["shape"][:2]) if r["op"] in ("matmul", "fused_matmul_add_gelu") else f"{r['shape'][0] // 1_000_000}M"
        numpy_text = f"{theirs:.3f}" if theirs else "-"
        ratio = f"{r['median_ms'] / theirs:.2f}x" if theirs else "-"
        lines.append(f"| {r['op']} | {shape} | {r['median_ms']:.3f} | {numpy_text} | {ratio} | {r['gflops']:.1f} | {r['gbps']:.1f} |")
    lines.append("")
    checks = []
    numpy_of = {(r["op"], r["shape"][0]): t for r, t in rows}
    for n in (1024, 2048):
        if ("matmul", n) in ours and numpy_of.get(("matmul", n)):
            ratio = ours[("matmul", n)] / numpy_of[("matmul", n)]
            checks.append((f"matmul {n}: {ratio:.2f}x numpy's time (target <= 1.10x)", ratio <= 1.10))
    if ("fused_matmul_add_gelu", 1024) in ours and ("matmul", 1024) in ours:
        ratio = ours[("fused_matmul_add_gelu", 1024)] / ours[("matmul", 1024)]
        checks.append((f"fused 1024: {ratio:.2f}x our matmul's time (target <= 1.15x)", ratio <= 1.15))
    gelu = next((r for r, _ in rows if r["op"] == "gelu" and r["shape"][0] == 10_000_000), None)
    if gelu:
        checks.append((f"gelu 10M: {gelu['gbps']:.1f} GB/s (target >= 5 GB/s)", gelu["gbps"] >= 5))
    if ("add", 10_000_000) in ours and numpy_of.get(("add", 10_000_000)):
        ratio = numpy_of[("add", 10_000_000)] / ours[("add", 10_000_000)]
        checks.append((f"add 10M: {ratio:.2f}x numpy's throughput (target >= 1x)", ratio >= 1.0))
    for text, ok in checks:
        lines.append(f"- {'met' if ok else 'NOT met'}: {text}")
    report = "\n".join(lines) + "\n"
    print(report)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(report)
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
