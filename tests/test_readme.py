"""The README's code examples run as written (so they stay true)."""
import importlib.util
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
OPTIONAL = ("torch",)  # a block that imports one of these runs where it is installed


def test_readme_has_python_examples():
    assert BLOCKS, "README has no python example"


@pytest.mark.parametrize("block", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_python_examples_run(block, capsys):
    for module in OPTIONAL:
        if re.search(rf"^(import|from) {module}\b", block, flags=re.M) and importlib.util.find_spec(module) is None:
            pytest.skip(f"this example needs {module}, which is not installed")
    exec(compile(block, str(README), "exec"), {})


def test_readme_starts_with_the_two_setup_commands():
    commands = [line.strip() for line in README.read_text().splitlines() if line.startswith("    python3 -m venv")]
    assert len(commands) >= 2
    assert commands[0].endswith("python -m fastrnn.examples.memory")
    assert commands[1].endswith("python -m pytest -q")
