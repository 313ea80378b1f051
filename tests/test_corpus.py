"""fastrnn.datasets.corpus: the standard-library docstring corpus is real English text, of the
requested size, in a fixed order."""
import pytest

from fastrnn.datasets import corpus


@pytest.fixture(scope="module")
def text():
    return corpus.load_text(200_000)


def test_size_and_prefixes(text):
    assert len(text) == 200_000
    assert corpus.load_text(5_000) == text[:5_000]
    assert corpus.load_text(0) == ""
    with pytest.raises(ValueError, match="'size'"):
        corpus.load_text(-1)


def test_is_english_prose(text):
    words = text.lower().split()
    for common in ("the", "of", "and", "is", "to", "a", "return", "file"):
        assert common in words
    assert sum(w.isalpha() for w in words) > 0.6 * len(words)


def test_docstrings_are_distinct_and_ordered(text):
    first = []
    for doc in corpus.iter_docstrings():
        first.append(doc)
        if len(first) == 300:
            break
    assert len(set(first)) == 300
    assert text.startswith("\n\n".join(first[:3]))
    assert corpus.load_text(300, separator=" | ").startswith(first[0][:100])


def test_missing_sources(tmp_path, monkeypatch):
    monkeypatch.setattr(corpus, "stdlib_path", lambda: tmp_path)
    with pytest.raises(FileNotFoundError, match="no standard library sources"):
        corpus.load_text(10)
