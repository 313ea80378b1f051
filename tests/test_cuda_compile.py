"""Compiles the CUDA sources (csrc/cuda) with nvcc on machines without a GPU, so they cannot rot:
the kernels for sm_80 and sm_90 into objects, and the cuBLAS and pybind11 glue with the host
compiler. Runs nothing on a GPU (tests/test_cuda.py does). Skipped with the reason when nvcc is
absent; the glue needs cuBLAS's headers, from the toolkit or the nvidia-cublas wheel."""
import glob
import os
import shutil
import subprocess
import sysconfig
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CUDA_DIR = ROOT / "csrc" / "cuda"
ARCHS = ["-gencode", "arch=compute_80,code=sm_80", "-gencode", "arch=compute_90,code=sm_90"]


def find_nvcc():
    for candidate in (shutil.which("nvcc"), os.path.join(os.environ.get("CUDA_HOME", "/usr/local/cuda"), "bin", "nvcc")):
        if candidate and os.path.exists(candidate):
            return candidate
    return None


NVCC = find_nvcc()
pytestmark = pytest.mark.skipif(NVCC is None, reason="nvcc not found (no CUDA toolkit on PATH or in CUDA_HOME)")


def cublas_include():
    """The directory holding cublas_v2.h: the toolkit's, else the nvidia-cublas wheel's."""
    toolkit = Path(NVCC).resolve().parents[1]
    candidates = [toolkit / "include", *toolkit.glob("targets/*/include")]
    try:
        import nvidia
        for base in nvidia.__path__:
            candidates += [Path(base) / "cu13" / "include", Path(base) / "cublas" / "include"]
    except ImportError:
        pass
    for c in candidates:
        if (c / "cublas_v2.h").exists():
            return c
    return None


def compile_all(jobs):
    """Runs the compiler commands in parallel; returns (command, returncode, output) of each."""
    def one(cmd):
        done = subprocess.run(cmd, capture_output=True, text=True)
        return cmd, done.returncode, done.stdout + done.stderr
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        return list(pool.map(one, jobs))


def assert_compiled(results):
    for cmd, rc, output in results:
        assert rc == 0, f"{' '.join(map(str, cmd))} failed:\n{output}"


def test_kernels_compile_for_sm80_and_sm90(tmp_path):
    sources = sorted(CUDA_DIR.glob("*.cu"))
    assert {s.name for s in sources} >= {"simple_rnn.cu", "lstm.cu", "persistent.cu", "persistent_backward.cu"}
    jobs = [[NVCC, "-std=c++17", "-O3", "--expt-relaxed-constexpr", *ARCHS, "-Werror", "all-warnings",
             "-c", str(s), "-o", str(tmp_path / (s.stem + ".o"))] for s in sources]
    assert_compiled(compile_all(jobs))
    for s in sources:
        assert (tmp_path / (s.stem + ".o")).stat().st_size > 0


def test_cublas_and_python_glue_compile(tmp_path):
    include = cublas_include()
    if include is None:
        pytest.skip("cuBLAS headers not found: neither in the CUDA toolkit nor from the nvidia-cublas wheel "
                    "(pip install nvidia-cublas)")
    import pybind11
    flags = ["-std=c++17", "-O1", f"-I{include}", f"-I{pybind11.get_include()}",
             f"-I{sysconfig.get_paths()['include']}", "-Xcompiler", "-fPIC,-Wall,-Werror",
             '-DFASTRNN_CUDA_ARCHITECTURES="80,90"']
    jobs = [[NVCC, *flags, "-c", str(CUDA_DIR / name), "-o", str(tmp_path / (name + ".o"))]
            for name in ("blas_cuda.cpp", "bindings_cuda.cpp")]
    assert_compiled(compile_all(jobs))
