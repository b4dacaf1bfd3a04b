#!/usr/bin/env python3
"""fusegraph against PyTorch on the same GPU, in one call: ratios and the CUDA issue's targets.

Runs `fusegraph bench --json` (the seed's table) and `fusegraph bench --suite linear --json` on the GPU,
then the PyTorch equivalents in this process on the same device, and prints ratios side by side:

  seed table    matmul (f32 exact: TF32 off, PyTorch's default), add, gelu (exact), gelu(addmm)
                resident; fused 1024 f32 from host memory and back (PyTorch: pageable tensors, .cuda()
                and .cpu()); a device-to-device copy of 100M f32 as the bandwidth bar for add and gelu.
  linear suite  gelu(x W^T + b) at (K, N) = (768, 3072), (4096, 14336), M = 1 .. 8192, bf16 / f32 /
                tf32: cuBLASLt's GELU_BIAS epilogue (torch._addmm_activation, use_gelu=True: tanh GELU)
                against our tanh form, and eager gelu(linear(x, W, b)) against ours in both forms. PyTorch's
                W is [N, K] (nn.Linear); ours is measured with W as [N, K] (the like-for-like rows, which
                the targets are checked on) and as [K, N] (shown for the cost of the other layout).

Timing is the same on both sides: a batch of back-to-back calls between two device events (about 2 ms),
median of rounds after warm-up; host-memory cases use the host clock around one synchronized call.

    python3 bench/torch_compare.py --fusegraph BUILD/fusegraph [--device N] [--quick] [--markdown FILE]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import torch
import torch.nn.functional as F


def device_time_ms(fn, target_ms=2.0, rounds=7):
    """Median over rounds of (a batch of fn() calls between two CUDA events) / batch size, in ms."""
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    fn()
    stop.record()
    stop.synchronize()
    batch = max(1, min(50, int(target_ms / max(start.elapsed_time(stop), 1e-4))))
    samples = []
    for _ in range(rounds):
        start.record()
        for _ in range(batch):
            fn()
        stop.record()
        stop.synchronize()
        samples.append(start.elapsed_time(stop) / batch)
    return statistics.median(samples)


def host_time_ms(fn, rounds=15):
    for _ in range(3):
        fn()
    samples = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        samples.append((time.perf_counter() - t) * 1e3)
    return statistics.median(samples)


def run_fusegraph(binary, args):
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        path = handle.name
    command = [binary, "bench", "--json", path] + args
    print("$", " ".join(command), flush=True)
    subprocess.run(command, check=True, stdout=sys.stderr)
    with open(path) as handle:
        results = json.load(handle)["results"]
    os.unlink(path)
    return results


def find(results, **keys):
    for r in results:
        if all(r.get(k) == v for k, v in keys.items()):
            return r["median_ms"]
    return None


def gpu_devices(results):
    return sorted({r["device"] for r in results if r["device"] != "cpu"}, key=lambda d: (d != "cuda", d))


# The bandwidth each GPU backend must reach on add and gelu over 100M f32, as a share of a copy's.
COPY_SHARE_TARGET = {"cuda": 0.90, "vulkan": 0.80}


def seed_table(binary, extra, quick, out):
    ours = run_fusegraph(binary, extra + (["--quick"] if quick else []))
    gpus = gpu_devices(ours)
    if not gpus:
        sys.exit("no GPU column in fusegraph bench: is a GPU backend ready? (fusegraph info)")
    torch.backends.cuda.matmul.allow_tf32 = False
    rows, checks = [], []
    n100 = 100_000_000
    copy_ms = None
    if not quick:
        a = torch.rand(n100, device="cuda")
        b = torch.empty_like(a)
        copy_ms = device_time_ms(lambda: b.copy_(a))
        del a, b
    sizes = [(op, n) for op in ("matmul", "fused_matmul_add_gelu") for n in (1024, 2048, 4096)]
    sizes += [(op, n) for op in ("add", "gelu") for n in (1_000_000, 10_000_000, n100)]
    torch_f32_matmul_4096 = None
    for op, n in sizes:
        if quick and n in (4096, n100):
            continue
        shape = [n, n, n] if "matmul" in op else [n]
        if op in ("matmul", "fused_matmul_add_gelu"):
            x, w = torch.rand(n, n, device="cuda"), torch.rand(n, n, device="cuda")
            bias = torch.rand(n, device="cuda")
            fn = (lambda: torch.mm(x, w)) if op == "matmul" else (lambda: F.gelu(torch.addmm(bias, x, w)))
        elif op == "add":
            x, y = torch.rand(n, device="cuda"), torch.rand(n, device="cuda")
            fn = lambda: torch.add(x, y)
        else:
            x = torch.rand(n, device="cuda")
            fn = lambda: F.gelu(x)
        theirs = device_time_ms(fn)
        if op == "matmul" and n == 4096:
            torch_f32_matmul_4096 = theirs
        for gpu in gpus:
            mine = find(ours, op=op, shape=shape, device=gpu, mode="resident")
            rows.append((gpu, op, "x".join(map(str, shape)), "resident", mine, theirs))
            if n == n100 and copy_ms is not None and mine:
                fraction = (copy_ms / mine) * (3 / 2 if op == "add" else 1.0)
                target = COPY_SHARE_TARGET.get(gpu, 0.80)
                checks.append((f"{gpu}: {op} 100M f32 at >= {target * 100:.0f}% of a device-to-device copy's bandwidth",
                               fraction >= target,
                               f"{fraction * 100:.0f}% (copy {copy_ms:.3f} ms for 800 MB, ours {mine:.3f} ms)"))
            if op == "matmul" and n == 4096 and gpu == "vulkan" and mine:
                checks.append(("vulkan: f32 matmul 4096 at >= 50% of cuBLAS's exact-f32 rate", theirs / mine >= 0.5,
                               f"{theirs / mine * 100:.0f}% ({2 * n**3 / mine / 1e9:.1f} vs {2 * n**3 / theirs / 1e9:.1f} TFLOP/s)"))
        torch.cuda.empty_cache()
    # f16 matmul 4096 (Vulkan's cooperative-matrix target; the CUDA column for scale)
    if not quick:
        f16 = run_fusegraph(binary, extra + ["--dtype", "f16", "--op", "matmul", "--size", "4096"])
        x, w = torch.rand(4096, 4096, device="cuda", dtype=torch.float16), torch.rand(4096, 4096, device="cuda", dtype=torch.float16)
        theirs = device_time_ms(lambda: torch.mm(x, w))
        del x, w
        for gpu in gpus:
            mine = find(f16, op="matmul", shape=[4096, 4096, 4096], device=gpu, mode="resident")
            rows.append((gpu, "matmul f16", "4096x4096x4096", "resident", mine, theirs))
            if gpu == "vulkan":
                checks.append(("vulkan: f16 matmul 4096 at >= 50% of cuBLAS's f16 rate", mine is not None and theirs / mine >= 0.5,
                               f"{theirs / mine * 100:.0f}% ({2 * 4096**3 / mine / 1e9:.1f} vs {2 * 4096**3 / theirs / 1e9:.1f} TFLOP/s)"
                               if mine else "not measured"))
        out["seed_f16"] = f16
    # fused 1024 f32 from host memory and back
    n = 1024
    w, bias = torch.rand(n, n, device="cuda"), torch.rand(n, device="cuda")
    x_host = torch.rand(n, n)
    theirs = host_time_ms(lambda: F.gelu(torch.addmm(bias, x_host.cuda(), w)).cpu())
    for gpu in gpus:
        mine = find(ours, op="fused_matmul_add_gelu", shape=[n, n, n], device=gpu, mode="host")
        rows.append((gpu, "fused_matmul_add_gelu", "1024x1024x1024", "host", mine, theirs))
        if gpu == "cuda":
            checks.append(("cuda: fused 1024 f32 from host memory and back <= 0.6 ms", mine is not None and mine <= 0.6,
                           f"ours {mine:.3f} ms, PyTorch (pageable) {theirs:.3f} ms"))
    out["seed"] = {"fusegraph": ours, "torch": rows, "copy_100M_ms": copy_ms, "torch_f32_matmul_4096_ms": torch_f32_matmul_4096}
    return rows, checks


def linear_suite(binary, extra, quick, out):
    ours = run_fusegraph(binary, ["--suite", "linear"] + extra + (["--quick"] if quick else []))
    rows, checks = [], []
    torch_times = {}
    for r in ours:
        if r["gelu"] != "tanh":
            continue
        m, k, n = r["shape"]
        weight = r.get("weight", "kn")
        key = (m, k, n, r["dtype"], r["precision"])
        if key not in torch_times:
            dtype = torch.bfloat16 if r["dtype"] == "bf16" else torch.float16 if r["dtype"] == "f16" else torch.float32
            torch.backends.cuda.matmul.allow_tf32 = r["precision"] == "tf32"
            x = torch.rand(m, k, device="cuda", dtype=dtype) - 0.5
            w = torch.rand(n, k, device="cuda", dtype=dtype) - 0.5
            b = torch.rand(n, device="cuda", dtype=dtype) - 0.5
            torch_times[key] = (device_time_ms(lambda: torch._addmm_activation(b, x, w.t(), use_gelu=True)),
                                device_time_ms(lambda: F.gelu(F.linear(x, w, b))),
                                device_time_ms(lambda: F.gelu(F.linear(x, w, b), approximate="tanh")))
            del x, w, b
            torch.cuda.empty_cache()
        lt, eager_exact, eager_tanh = torch_times[key]
        gpu = r["device"]
        mine_tanh = r["median_ms"]
        mine_exact = find(ours, op=r["op"], shape=r["shape"], dtype=r["dtype"], precision=r["precision"], gelu="exact",
                          device=gpu, weight=weight)
        label = f"M={m} K={k} N={n} {r['dtype']}{'/tf32' if r['precision'] == 'tf32' else ''}"
        rows.append((gpu, label + (" W[K,N]" if weight == "kn" else ""), mine_tanh, lt, mine_exact, eager_exact, eager_tanh))
        if gpu != "cuda" or weight != "nk":
            continue  # the CUDA issue's targets, on PyTorch's own layout; the rest is shown for comparison
        if m >= 2048:
            checks.append((f"cuda {label}: tanh <= 1.03x cuBLASLt epilogue", mine_tanh <= 1.03 * lt, f"{mine_tanh / lt:.3f}x"))
        if m <= 16 and k == 4096:
            element = 2 if r["dtype"] in ("bf16", "f16") else 4
            floor_ms = k * n * element / 3.0e12 * 1e3  # weights once at the issue's ~3.0 TB/s floor
            checks.append((f"cuda {label}: >= 1.25x faster than cuBLASLt", lt / mine_tanh >= 1.25,
                           f"{lt / mine_tanh:.2f}x faster; weights read at {k * n * element / (mine_tanh * 1e-3) / 1e9:.0f} GB/s "
                           f"({floor_ms / mine_tanh * 100:.0f}% of the 3.0 TB/s floor)"))
            checks.append((f"cuda {label}: weights read at >= 85% of the issue's 3.0 TB/s HBM floor (its 'i.e.')",
                           floor_ms / mine_tanh >= 0.85, f"{floor_ms / mine_tanh * 100:.0f}% of the 3.0 TB/s floor"))
        if mine_exact is not None:
            checks.append((f"cuda {label}: eager PyTorch not faster (exact and tanh)",
                           eager_exact >= mine_exact and eager_tanh >= mine_tanh,
                           f"eager/ours exact {eager_exact / mine_exact:.2f}x, tanh {eager_tanh / mine_tanh:.2f}x"))
    torch.backends.cuda.matmul.allow_tf32 = False
    out["linear"] = {"fusegraph": ours, "torch": rows}
    return rows, checks


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fusegraph", default="./fusegraph")
    parser.add_argument("--device", type=int, default=None, help="fusegraph device index of the GPU (default: all)")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--skip-seed", action="store_true")
    parser.add_argument("--skip-linear", action="store_true")
    parser.add_argument("--size", type=int, default=None, help="linear suite: only this M (fusegraph bench --size)")
    parser.add_argument("--markdown", help="also write the tables as Markdown here")
    parser.add_argument("--json", help="write everything measured here")
    args = parser.parse_args()
    extra = ["--device", str(args.device)] if args.device is not None else []
    print(f"GPU: {torch.cuda.get_device_name()}, PyTorch {torch.__version__}, CUDA {torch.version.cuda}")
    out, lines, all_checks = {}, [], []
    if not args.skip_seed:
        rows, checks = seed_table(args.fusegraph, extra, args.quick, out)
        all_checks += checks
        lines += ["| device | op | shape | mode | fusegraph ms | PyTorch ms | PyTorch / fusegraph |", "|---|---|---|---|---|---|---|"]
        for gpu, op, shape, mode, mine, theirs in rows:
            ratio = f"{theirs / mine:.2f}x" if mine else "n/a"
            lines.append(f"| {gpu} | {op} | {shape} | {mode} | {mine if mine is None else f'{mine:.4f}'} | {theirs:.4f} | {ratio} |")
        if out["seed"]["copy_100M_ms"]:
            lines.append(f"\ndevice-to-device copy of 100M f32 (PyTorch): {out['seed']['copy_100M_ms']:.3f} ms")
    if not args.skip_linear:
        size = ["--size", str(args.size)] if args.size else []
        rows, checks = linear_suite(args.fusegraph, extra + size, args.quick, out)
        all_checks += checks
        lines += ["", "| device | shape | ours tanh ms | cuBLASLt epilogue ms | ours/cuBLASLt | ours exact ms | eager exact ms | eager tanh ms |",
                  "|---|---|---|---|---|---|---|---|"]
        for gpu, label, mine_tanh, lt, mine_exact, eager_exact, eager_tanh in rows:
            lines.append(f"| {gpu} | {label} | {mine_tanh:.4f} | {lt:.4f} | {mine_tanh / lt:.3f}x | "
                         f"{mine_exact if mine_exact is None else f'{mine_exact:.4f}'} | {eager_exact:.4f} | {eager_tanh:.4f} |")
    lines += ["", "| target | met | measured |", "|---|---|---|"]
    lines += [f"| {name} | {'yes' if ok else 'NO'} | {detail} |" for name, ok, detail in all_checks]
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        with open(args.markdown, "w") as handle:
            handle.write(text + "\n")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(out, handle, indent=1)
    met = sum(ok for _, ok, _ in all_checks)
    print(f"\n{met} of {len(all_checks)} targets met")


if __name__ == "__main__":
    main()
