"""Times SimpleRNN, LSTM and GRU forward and forward+backward for fastrnn (cpu), the NumPy reference
and, when importable, PyTorch CPU with the same weights, after checking that outputs and
gradients agree. Prints one table (medians of warmed-up runs, ms, GFLOP/s, ratios; fastrnn and
PyTorch timed in alternating blocks) and, with --write, records it with the machine and the command in
bench/RESULTS.md.

    python bench/bench_rnn.py [--threads 2] [--repeats 15] [--write]
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import fastrnn  # noqa: E402
from fastrnn import convert, ops  # noqa: E402
from shapes import GATES, LAST_STATE_SHAPES, SHAPES, forward_flops  # noqa: E402

try:
    import torch
except ImportError:
    torch = None


def median_ms(fn, repeats, warmup=2):
    # Idle worker threads of the implementation timed just before (NumPy's OpenBLAS, PyTorch's
    # OpenMP) busy-wait for a while after their last job; let them go to sleep first so each
    # implementation is timed on otherwise idle cores.
    time.sleep(0.3)
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def interleaved_ms(fns, repeats, blocks=3, settle_s=0.05):
    """Median ms of each of fns, timed in alternating blocks (fns[0], fns[1], ..., then the
    reverse order) so that a slow spell of this shared machine hits all of them alike. Each block
    starts with untimed calls for at least settle_s (and at least two calls): the previous
    library's idle threads keep spinning for a while after its last call (PyTorch's OpenMP
    threads for 5-20 ms: a 1.3 ms batch-1 call ran in 2.4-4 ms right after a PyTorch call), and
    pausing instead lets the vCPUs go idle, which slows the next calls of either library."""
    times = [[] for _ in fns]
    per_block = -(-repeats // blocks)
    for r in range(blocks):
        for i in (range(len(fns)) if r % 2 == 0 else reversed(range(len(fns)))):
            start, calls = time.perf_counter(), 0
            while calls < 2 or time.perf_counter() - start < settle_s:
                fns[i]()
                calls += 1
            for _ in range(per_block):
                start = time.perf_counter()
                fns[i]()
                times[i].append(time.perf_counter() - start)
    return [1e3 * statistics.median(t) for t in times]


def problem(cell, T, B, D, H, rng):
    G = GATES[cell]
    x = rng.standard_normal((B, T, D)).astype(np.float32)
    kernel = (rng.standard_normal((D, G * H)) / np.sqrt(D)).astype(np.float32)
    recurrent = (rng.standard_normal((H, G * H)) / np.sqrt(H)).astype(np.float32)
    # GRU: reset_after (Keras 3's default, nn.GRU's), input and recurrent bias
    bias = (rng.standard_normal((2, G * H) if cell == "gru" else G * H) * 0.1).astype(np.float32)
    d_out = rng.standard_normal((B, T, H)).astype(np.float32)
    return x, kernel, recurrent, bias, d_out


# The passes timed: inference forward, training forward + backward with a gradient on every
# output, and the same with a gradient on the last state only (h_T: LAST_STATE_SHAPES).
PASSES = ("fwd", "fwd+bwd", "fwd+bwd, h_T")


def fastrnn_fns(cell, x, kernel, recurrent, bias, d_out, backend):
    fwd_op, bwd_op = getattr(ops, f"{cell}_forward"), getattr(ops, f"{cell}_backward")

    def forward():
        return fwd_op(x, kernel, recurrent, bias, training=False, backend=backend)[0]

    def forward_backward():
        out, _, cache = fwd_op(x, kernel, recurrent, bias, backend=backend)
        return out, bwd_op(cache, d_out)

    def forward_backward_last_state():
        out, _, cache = fwd_op(x, kernel, recurrent, bias, backend=backend)
        return out, bwd_op(cache, None, d_out[:, -1])

    return forward, forward_backward, forward_backward_last_state


def torch_fns(cell, x, kernel, recurrent, bias, d_out):
    D, H = x.shape[2], recurrent.shape[0]
    module = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "simple_rnn": torch.nn.RNN}[cell](D, H, batch_first=True)
    state = convert.keras_to_torch(cell, [kernel, recurrent, bias])
    module.load_state_dict({name: torch.from_numpy(np.ascontiguousarray(value)) for name, value in state.items()})
    xt = torch.from_numpy(x).requires_grad_(True)
    gt = torch.from_numpy(d_out)

    def forward():
        with torch.no_grad():
            return module(xt)[0]

    def forward_backward():
        xt.grad = None
        module.zero_grad()
        out = module(xt)[0]
        out.backward(gt)
        return out, xt.grad

    def forward_backward_last_state():
        xt.grad = None
        module.zero_grad()
        out, last = module(xt)
        (last[0] if cell == "lstm" else last)[0].backward(gt[:, -1])
        return out, xt.grad

    return forward, forward_backward, forward_backward_last_state


def check(fr_fb, ref_fb, torch_fb):
    """Outputs and input gradients agree across implementations before anything is timed."""
    out, grads = fr_fb()

    def agree(got, want):  # float32 gradients summed over hundreds of steps in different orders:
        # absolute error relative to the array's scale (a few elements near 0 differ by ~2e-4 at T=100)
        np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-3 * max(1.0, float(np.abs(want).max())))

    if ref_fb is not None:
        ref_out, ref_grads = ref_fb()
        agree(out, ref_out)
        agree(grads.x, ref_grads.x)
    if torch_fb is not None:
        t_out, t_dx = torch_fb()
        agree(out, t_out.detach().numpy())
        agree(grads.x, t_dx.numpy())


def gemm_product(threads, n=3072):
    """One large float32 square product (the machine's practical GEMM ceiling): PyTorch's
    (oneDNN/MKL) when importable, else NumPy's BLAS, at the bench's thread count. Returns the
    function, its flops and a description. It is timed in alternation with the largest shape's
    forward+backward, so that the percentage compares two rates measured under the same load of
    this shared machine (timed on its own, the ceiling read 147-316 GFLOP/s within an hour)."""
    rng = np.random.default_rng(1)
    a, b = (rng.standard_normal((n, n)).astype(np.float32) for _ in range(2))
    if torch is not None:
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        fn, who = (lambda: torch.mm(ta, tb)), "torch.mm"
    else:
        fn, who = (lambda: a @ b), "numpy matmul"
    return fn, 2 * n ** 3, f"{who} {n}x{n}x{n}, {threads} threads"


def cpu_name():
    """The CPU's model name from /proc/cpuinfo (else what platform knows)."""
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def machine():
    cpu = cpu_name()
    cfg = fastrnn._core.config()
    parts = [f"{cpu}, {os.cpu_count()} cores", f"Python {platform.python_version()}", f"NumPy {np.__version__}",
             f"fastrnn {fastrnn.__version__} ({cfg['blas']} {cfg['blas_version']}, SIMD {cfg['simd_in_use']})"]
    if torch is not None:
        parts.append(f"PyTorch {torch.__version__}")
    return "; ".join(parts)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--reference-repeats", type=int, default=2, help="the NumPy reference is slow")
    parser.add_argument("--cells", nargs="+", default=["lstm", "gru", "simple_rnn"])
    parser.add_argument("--no-reference", action="store_true")
    parser.add_argument("--write", action="store_true", help="record the table in bench/RESULTS.md")
    args = parser.parse_args()
    fastrnn.set_num_threads(args.threads)
    if torch is not None:
        torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    head = ("| cell | T, B, D, H | pass | fastrnn ms | GFLOP/s | numpy ms | torch ms | vs numpy | vs torch |\n"
            "|---|---|---|---|---|---|---|---|---|")
    rows = [head]
    gemm = gemm_product(args.threads)
    note = "float32 GEMM ceiling: not measured (the largest LSTM shape was not run)"
    print(head, flush=True)
    for cell in args.cells:
        for T, B, D, H in SHAPES:
            if cell != "lstm" and (T, B, D, H) == (100, 64, 64, 1024):
                continue
            data = problem(cell, T, B, D, H, rng)
            fr = fastrnn_fns(cell, *data, backend="cpu")
            ref = None if args.no_reference else fastrnn_fns(cell, *data, backend="numpy")
            tc = torch_fns(cell, *data) if torch is not None else None
            passes = [0, 1, 2] if (T, B, D, H) in LAST_STATE_SHAPES else [0, 1]
            for which in passes[1:]:
                check(fr[which], ref and ref[which], tc and tc[which])
            for which in passes:
                name, flops = PASSES[which], 1 if which == 0 else 3
                ref_ms = median_ms(ref[which], args.reference_repeats, warmup=1) if ref else float("nan")
                is_largest = cell == "lstm" and (T, B, D, H) == SHAPES[0] and which == 1
                fns = [fr[which]] + ([tc[which]] if tc else []) + ([gemm[0]] if is_largest else [])
                times = interleaved_ms(fns, args.repeats)
                ms, t_ms = times[0], times[1] if tc else float("nan")
                gflops = flops * forward_flops(cell, T, B, D, H) / (ms * 1e6)
                row = (f"| {cell} | {T}, {B}, {D}, {H} | {name} | {ms:.2f} | {gflops:.0f} | {ref_ms:.1f} | "
                       f"{t_ms:.2f} | {ref_ms / ms:.1f}x | {t_ms / ms:.2f}x |")
                rows.append(row)
                print(row, flush=True)
                if is_largest:
                    ceiling = gemm[1] / (times[-1] * 1e6)
                    note = (f"float32 GEMM ceiling: {ceiling:.0f} GFLOP/s ({gemm[2]}, timed alternately with the "
                            f"largest shape); lstm {SHAPES[0]} fwd+bwd at {gflops:.0f} GFLOP/s = "
                            f"{100 * gflops / ceiling:.0f}% of it")
    print(note, flush=True)
    rows.append("\n" + note)
    command = "python " + " ".join([os.path.relpath(sys.argv[0])] + sys.argv[1:])
    if args.write:
        write_results(rows, command, args.threads)


def write_results(rows, command, threads):
    path = os.path.join(os.path.dirname(__file__), "RESULTS.md")
    text = open(path).read() if os.path.exists(path) else "# fastrnn benchmark results\n"
    section = (f"## CPU kernels: fastrnn vs NumPy reference vs PyTorch\n\n"
               f"Machine: {machine()}. Threads: {threads} (fastrnn and PyTorch). float32, x (B, T, D).\n"
               f"Command: `{command}` (from a source tree: `PYTHONPATH=python {command}`), "
               f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n\n"
               "Medians of warmed-up runs; ratios are the other's time / fastrnn's time (>1: fastrnn faster). "
               "GFLOP/s counts only the matrix products (bench/shapes.py): forward 2·T·B·(D+H)·G·H, "
               "forward+backward 3x that.\n\n" + "\n".join(rows) + "\n\n")
    marker = "## CPU kernels: fastrnn vs NumPy reference vs PyTorch"
    if marker in text:  # replace the old section, keep the others
        start = text.index(marker)
        end = text.find("\n## ", start + 1)
        text = text[:start] + section + (text[end + 1:] if end >= 0 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


if __name__ == "__main__":
    main()
