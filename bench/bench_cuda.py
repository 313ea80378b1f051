"""Times fastrnn's CUDA kernels against PyTorch's cuDNN RNNs (torch.nn.LSTM / torch.nn.RNN) on one
GPU with the same weights, after checking that outputs and gradients agree. float32 with TF32 off
on both sides, time-major inputs on the device (no host copies), CUDA events around each run
after warm-up, medians. Prints one table and, with --write, records it with the device and the
command in a markdown file (--out, default bench/RESULTS_cuda.md) whose tables are merged into
bench/RESULTS.md. Not a CPU bench (bench_rnn.py is).

    python bench/bench_cuda.py [--repeats 30] [--cells lstm,simple_rnn] [--write]
"""
from __future__ import annotations

import argparse
import datetime
import os
import statistics
import sys

import numpy as np
import torch

import fastrnn
from fastrnn import _cuda_backend, ops

# (T, B, D, H) as the issue names them
SHAPES = [(100, 64, 512, 512), (100, 1, 256, 256), (100, 8, 512, 512), (28, 128, 28, 128), (500, 128, 32, 32)]
GATES = {"simple_rnn": 1, "lstm": 4}


def time_ms(fn, repeats, warmup=5):
    """Median of `repeats` runs of fn, each between two CUDA events on the current stream."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def make(cell, T, B, D, H, seed=0):
    """fastrnn weights (Keras layout) and the torch module holding the same ones."""
    G = GATES[cell]
    g = torch.Generator(device="cuda").manual_seed(seed)
    rand = lambda *shape, scale=1.0: torch.randn(*shape, device="cuda", generator=g) * scale
    w = {"kernel": rand(D, G * H, scale=D ** -0.5), "recurrent_kernel": rand(H, G * H, scale=H ** -0.5),
         "bias": rand(G * H, scale=0.1)}
    module = (torch.nn.LSTM(D, H) if cell == "lstm" else torch.nn.RNN(D, H, nonlinearity="tanh")).cuda()
    with torch.no_grad():  # torch: gates i, f, g, o as rows; Keras: i, f, c, o as columns
        module.weight_ih_l0.copy_(w["kernel"].T)
        module.weight_hh_l0.copy_(w["recurrent_kernel"].T)
        module.bias_ih_l0.copy_(w["bias"])
        module.bias_hh_l0.zero_()
    x = rand(T, B, D)
    d_out = rand(T, B, H)
    return w, module, x, d_out


def fastrnn_forward(cell, x, w, training):
    fn = ops.lstm_forward if cell == "lstm" else ops.simple_rnn_forward
    return fn(x, w["kernel"], w["recurrent_kernel"], w["bias"], time_major=True, training=training, backend="cuda")


def fastrnn_train(cell, x, w, d_out):
    out, _, cache = fastrnn_forward(cell, x, w, True)
    return (ops.lstm_backward if cell == "lstm" else ops.simple_rnn_backward)(cache, d_out)


def torch_train(module, x, d_out):
    xr = x.detach().requires_grad_()
    out, _ = module(xr)
    params = [module.weight_ih_l0, module.weight_hh_l0, module.bias_ih_l0]
    return torch.autograd.grad(out, [xr, *params], d_out)


def relative_error(a, b):
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))


def check(cell, w, module, x, d_out):
    """Largest relative error (max |diff| / max |value|) over outputs and every gradient."""
    with torch.no_grad():
        want, _ = module(x)
    got, _, _ = fastrnn_forward(cell, x, w, False)
    errors = [relative_error(got, want)]
    got_train, _, _ = fastrnn_forward(cell, x, w, True)
    errors.append(relative_error(got_train, want))
    grads = fastrnn_train(cell, x, w, d_out)
    dx, dw_ih, dw_hh, db = torch_train(module, x, d_out)
    errors += [relative_error(grads.x, dx), relative_error(grads.kernel, dw_ih.T),
               relative_error(grads.recurrent_kernel, dw_hh.T), relative_error(grads.bias, db)]
    return max(errors)


def bench(cell, shape, repeats):
    T, B, D, H = shape
    w, module, x, d_out = make(cell, T, B, D, H)
    row = {"cell": cell, "shape": shape}
    with torch.no_grad():
        row["torch_fwd"] = time_ms(lambda: module(x), repeats)
    row["torch_train"] = time_ms(lambda: torch_train(module, x, d_out), repeats)
    # fastrnn as shipped (persistent kernels where the shape fits), then forced onto the step loop
    for path, allow in (("auto", True), ("steps", False)):
        fastrnn.tuning.set(cuda_persistent=allow)
        row[f"err_{path}"] = check(cell, w, module, x, d_out)
        row[f"fast_fwd_{path}"] = time_ms(lambda: fastrnn_forward(cell, x, w, False), repeats)
        row[f"persistent_fwd_{path}"] = _cuda_backend.last_forward_persistent
        row[f"fast_train_{path}"] = time_ms(lambda: fastrnn_train(cell, x, w, d_out), repeats)
        row[f"persistent_bwd_{path}"] = _cuda_backend.last_backward_persistent
        if not (row["persistent_fwd_auto"] or row["persistent_bwd_auto"]):
            break  # the step loop is what ran
    fastrnn.tuning.set(cuda_persistent=True)
    row["err"] = max(v for k, v in row.items() if k.startswith("err_"))
    return row


def table(rows):
    lines = ["| cell | T, B, D, H | max rel. err | fwd fastrnn ms | fwd cuDNN ms | fwd speed vs cuDNN "
             "| fwd+bwd fastrnn ms | fwd+bwd cuDNN ms | fwd+bwd speed vs cuDNN | step-loop path: fwd / fwd+bwd ms |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        tag = lambda persistent: " (P)" if persistent else ""
        steps = (f"{r['fast_fwd_steps']:.3f} / {r['fast_train_steps']:.3f}" if "fast_fwd_steps" in r
                 else "(same)")
        lines.append(f"| {r['cell']} | {', '.join(map(str, r['shape']))} | {r['err']:.1e} | "
                     f"{r['fast_fwd_auto']:.3f}{tag(r['persistent_fwd_auto'])} | {r['torch_fwd']:.3f} | "
                     f"{r['torch_fwd'] / r['fast_fwd_auto']:.2f}x | "
                     f"{r['fast_train_auto']:.3f}{tag(r['persistent_bwd_auto'])} | {r['torch_train']:.3f} | "
                     f"{r['torch_train'] / r['fast_train_auto']:.2f}x | {steps} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--cells", default="lstm,simple_rnn")
    parser.add_argument("--write", action="store_true", help="write bench/RESULTS_cuda.md")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "RESULTS_cuda.md"))
    args = parser.parse_args()
    # Full float32 on both sides: cuDNN would otherwise use TF32 for its products.
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    rows = []
    for cell in args.cells.split(","):
        for shape in SHAPES:
            rows.append(bench(cell, shape, args.repeats))
            print(table(rows[-1:]).splitlines()[-1], flush=True)
    bad = [r for r in rows if not r["err"] < 1e-3]
    text = table(rows)
    print(text)
    info = _cuda_backend.config()
    header = (f"# fastrnn CUDA vs cuDNN (torch.nn.LSTM / torch.nn.RNN)\n\n"
              f"- device: {info.get('cuda device')}; driver {info.get('cuda driver')}, fastrnn {info.get('cuda')}, "
              f"cuBLAS {info.get('cublas')}\n"
              f"- PyTorch {torch.__version__}, cuDNN {torch.backends.cudnn.version()}; TF32 off on both sides; "
              f"float32; time-major device tensors\n"
              f"- command: `python {' '.join(sys.argv)}` ({args.repeats} timed runs after 5 warm-ups, medians "
              f"of CUDA-event times; {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC)\n"
              f"- fwd is inference (training=False), fwd+bwd a training forward then backward (all "
              f"gradients). Speed vs cuDNN = cuDNN time / fastrnn time (above 1: fastrnn faster). (P): the "
              f"persistent kernel ran (forward; in fwd+bwd, the backward loop); the last column forces "
              f"fastrnn's per-step cuBLAS path instead.\n"
              f"- max rel. err: largest max|fastrnn - torch| / max|torch| over outputs and all gradients, "
              f"checked before timing\n\n")
    if args.write:
        with open(args.out, "w") as f:
            f.write(header + text + "\n")
    if bad:
        sys.exit(f"outputs disagree with torch for {[(r['cell'], r['shape']) for r in bad]}")


if __name__ == "__main__":
    main()
