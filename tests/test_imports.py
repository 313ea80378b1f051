"""`import fastrnn` alone gives the Keras-style namespaces (fastrnn.layers.LSTM, fastrnn.optimizers.Adam,
...), and every module imports first in a fresh process without an import cycle. Each check runs
in a new interpreter, so nothing imported by other tests hides a missing import."""
import os
import subprocess
import sys

import pytest

import fastrnn

SOURCE = os.path.dirname(os.path.dirname(os.path.abspath(fastrnn.__file__)))


def run_fresh(code):
    env = {**os.environ, "PYTHONPATH": SOURCE + os.pathsep + os.environ.get("PYTHONPATH", "")}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_keras_names_after_import_fastrnn_alone():
    out = run_fresh(
        "import fastrnn\n"
        "names = [fastrnn.layers.LSTM, fastrnn.models.Sequential, fastrnn.optimizers.Adam, fastrnn.losses.Huber,\n"
        "         fastrnn.metrics.AUC, fastrnn.callbacks.ReduceLROnPlateau, fastrnn.utils.to_categorical,\n"
        "         fastrnn.preprocessing.sequence.pad_sequences, fastrnn.preprocessing.text.Tokenizer,\n"
        "         fastrnn.datasets.imdb.load_data, fastrnn.optimizers.schedules.ExponentialDecay,\n"
        "         fastrnn.backend.clear_session]\n"
        "print(len(names))\n")
    assert out.split() == ["12"]


@pytest.mark.parametrize("module", ["fastrnn.optimizers", "fastrnn.losses", "fastrnn.metrics", "fastrnn.callbacks",
                                    "fastrnn.utils", "fastrnn.session", "fastrnn.optimizers.schedules",
                                    "fastrnn.models", "fastrnn.backend"])
def test_each_module_imports_first_without_a_cycle(module):
    assert run_fresh(f"import {module}, sys\nprint('{module}' in sys.modules)\n").split() == ["True"]
