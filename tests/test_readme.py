"""The README's code examples run as written (so they stay true)."""
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_examples_run(capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "README has no python example"
    for block in blocks:
        exec(compile(block, str(README), "exec"), {})


def test_readme_starts_with_the_two_setup_commands():
    commands = [line.strip() for line in README.read_text().splitlines() if line.startswith("    python3 -m venv")]
    assert len(commands) >= 2
    assert commands[0].endswith("python -m fastrnn.examples.memory")
    assert commands[1].endswith("python -m pytest -q")
