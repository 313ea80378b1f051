"""A real English corpus present on every machine: the docstrings of Python's standard library.

Read from the stdlib's .py sources with `ast` (nothing is imported, run or downloaded) in a fixed
order: files by sorted path, test packages skipped, docstrings in `ast.walk` order, each distinct
docstring once. The text depends on the Python version; do not hard-code its content.
"""
from __future__ import annotations

import ast
import os
import sysconfig
from pathlib import Path

_SKIP_DIRS = {"test", "tests", "idle_test", "site-packages", "dist-packages", "__pycache__"}
_DOCUMENTED = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


def stdlib_path() -> Path:
    """The folder of the running Python's standard library sources."""
    return Path(sysconfig.get_paths()["stdlib"])


def iter_docstrings():
    """Yield the distinct docstrings of the standard library, in a fixed order.

    Yields:
        str, one docstring each (indentation cleaned by `ast.get_docstring`).

    Raises:
        FileNotFoundError: this Python ships no standard library sources.

    Example:
        >>> first = next(iter_docstrings())
    """
    root = stdlib_path()
    if not (root / "os.py").is_file():
        raise FileNotFoundError(f"no standard library sources in {root} (is this an embedded "
                                f"Python without .py files?)")
    seen = set()
    for path in _source_files(root):
        try:
            tree = ast.parse(path.read_bytes())
        except (SyntaxError, ValueError):  # a few stdlib data files are not valid for this parser
            continue
        for node in ast.walk(tree):
            if isinstance(node, _DOCUMENTED):
                doc = ast.get_docstring(node)
                if doc and doc not in seen:
                    seen.add(doc)
                    yield doc


def load_text(size=1_000_000, separator="\n\n") -> str:
    """Standard-library docstrings joined into one English text of at most `size` characters.

    Args:
        size: characters wanted (the text is cut there); None: all (a few MB).
        separator: put between docstrings.

    Returns:
        A str of `size` characters, or fewer if the standard library has less text.

    Example:
        >>> text = load_text(100_000)
        >>> len(text)
        100000
    """
    if size is not None and size < 0:
        raise ValueError(f"argument 'size' must be None or >= 0, got {size}")
    parts, total = [], 0
    for doc in iter_docstrings():
        if size is not None and total >= size:
            break
        parts.append(doc)
        total += len(doc) + len(separator)
    return separator.join(parts)[:size]


def _source_files(root):
    """The .py files under root, sorted, outside test and package folders."""
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in _SKIP_DIRS]
        found.extend(Path(folder, f) for f in files if f.endswith(".py"))
    return sorted(found, key=lambda p: p.relative_to(root).parts)
