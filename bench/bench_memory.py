"""Peak extra memory of one LSTM call on the largest shape, fastrnn vs PyTorch (CPU, float32).

Each measurement runs in a fresh process: inputs and weights are made, the peak resident size
(VmHWM) is reset to the current one (/proc/self/clear_refs), one call runs, and the peak
minus the resident size before the call is reported. Free heap pages are returned to the system
first (malloc_trim): otherwise the call may reuse pages that freed temporaries (the float64
random inputs) left resident, and its own memory does not show. That counts everything the call needs:
returned arrays, training caches, scratch, packed weights. A second call in the same process
shows the steady state (fastrnn reuses its arenas and pooled arrays; PyTorch its allocator's).

    python bench/bench_memory.py [--shape T B D H]
"""
import argparse
import json
import os
import subprocess
import sys

CHILD = r"""
import ctypes, gc, json, sys
import numpy as np
T, B, D, H = SHAPE
lib, mode = sys.argv[1], sys.argv[2]

def status(key):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(key + ":"))

def reset_peak():
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")

rng = np.random.default_rng(0)
x = rng.standard_normal((B, T, D)).astype(np.float32)
k = (rng.standard_normal((D, 4 * H)) / np.sqrt(D)).astype(np.float32)
rk = (rng.standard_normal((H, 4 * H)) / np.sqrt(H)).astype(np.float32)
b = np.zeros(4 * H, np.float32)
dy = rng.standard_normal((B, T, H)).astype(np.float32)
if lib == "fastrnn":
    import fastrnn
    from fastrnn import ops
    fastrnn.set_num_threads(2)
    def call():
        if mode == "inference":
            return ops.lstm_forward(x, k, rk, b, training=False)
        out, _, cache = ops.lstm_forward(x, k, rk, b)
        return ops.lstm_backward(cache, d_outputs=dy)
else:
    import torch
    torch.set_num_threads(2)
    lstm = torch.nn.LSTM(D, H, batch_first=True)
    xt, dyt = torch.from_numpy(x).requires_grad_(True), torch.from_numpy(dy)
    def call():
        if mode == "inference":
            with torch.no_grad():
                return lstm(xt)
        out, _ = lstm(xt)
        out.backward(dyt)
        return xt.grad
peaks = []
for _ in range(2):
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)  # freed heap pages (NumPy temporaries) out of the count
    reset_peak()
    before = status("VmRSS")
    result = call()
    peaks.append(status("VmHWM") - before)
    del result
print(json.dumps(peaks))
"""


def measure(lib, mode, shape):
    code = CHILD.replace("SHAPE", repr(tuple(shape)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [os.environ.get("PYTHONPATH")])))
    out = subprocess.run([sys.executable, "-c", code, lib, mode], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        return None, out.stderr.strip().splitlines()[-1]
    return json.loads(out.stdout), None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", nargs=4, type=int, default=[100, 64, 512, 512], metavar=("T", "B", "D", "H"))
    args = parser.parse_args()
    T, B, D, H = args.shape
    print(f"LSTM (T, B, D, H) = {tuple(args.shape)}, float32; inputs x {B * T * D * 4 / 2**20:.1f} MB")
    print("| library | call | first call: peak extra MB | second call: peak extra MB |")
    print("|---|---|---|---|")
    for mode in ("inference", "forward+backward"):
        for lib in ("fastrnn", "torch"):
            peaks, error = measure(lib, mode, args.shape)
            if peaks is None:
                print(f"| {lib} | {mode} | not measured: {error} | |")
                continue
            print(f"| {lib} | {mode} | {peaks[0] / 2**20:.1f} | {peaks[1] / 2**20:.1f} |")


if __name__ == "__main__":
    main()
