"""load_word_vectors on GloVe / word2vec text files that the tests write: alignment to a word
index, gzip, headers, dimension checks and errors that name the line."""
import gzip
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from fastrnn.preprocessing.text import Tokenizer, load_word_vectors

GLOVE = "the 0.1 0.2 0.3\ncat -1 0 1e-3\nsat 4 5 6\nmat 7.5 8 9\ndog 1 1 1\n"


def write(path, content, compress=False):
    data = content.encode("utf-8") if isinstance(content, str) else content
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


@pytest.fixture
def glove(tmp_path):
    return write(tmp_path / "glove.txt", GLOVE)


def test_matrix_aligned_to_a_tokenizer(glove):
    tokenizer = Tokenizer()
    tokenizer.fit_on_texts(["the cat sat on the mat", "a hat"])  # on, a, hat have no vector
    matrix, found = load_word_vectors(glove, tokenizer.word_index)
    assert matrix.dtype == np.float32 and matrix.shape == (len(tokenizer.word_index) + 1, 3)
    assert found == 4
    index = tokenizer.word_index
    np.testing.assert_array_equal(matrix[index["the"]], np.float32([0.1, 0.2, 0.3]))
    np.testing.assert_array_equal(matrix[index["cat"]], np.float32([-1, 0, 1e-3]))
    np.testing.assert_array_equal(matrix[index["mat"]], np.float32([7.5, 8, 9]))
    for missing in (0, index["on"], index["a"], index["hat"]):
        assert not matrix[missing].any()


def test_num_words_limits_the_rows(glove):
    result = load_word_vectors(glove, {"cat": 1, "dog": 2, "mat": 3}, num_words=3)
    assert result.matrix.shape == (3, 3) and result.found == 2
    assert result.matrix[2].tolist() == [1, 1, 1]


def test_gzip_is_detected_by_content(tmp_path):
    for name in ("glove.txt.gz", "vectors.bin"):
        path = write(tmp_path / name, GLOVE, compress=True)
        matrix, found = load_word_vectors(path, {"sat": 1})
        assert found == 1 and matrix[1].tolist() == [4, 5, 6]


def test_without_word_index_every_vector_in_file_order(glove):
    words, vectors = load_word_vectors(glove)
    assert words == ["the", "cat", "sat", "mat", "dog"]
    assert vectors.shape == (5, 3) and vectors.dtype == np.float32
    assert vectors[3].tolist() == [7.5, 8, 9]
    assert load_word_vectors(glove, num_words=2).words == ["the", "cat"]


def test_word2vec_header_and_crlf_and_blank_lines(tmp_path):
    path = write(tmp_path / "w2v.txt", "3 2\r\nx 1 2 \r\n\r\ny 3 4\r\nz 5 6\r\n")
    words, vectors = load_word_vectors(path)
    assert words == ["x", "y", "z"] and vectors.tolist() == [[1, 2], [3, 4], [5, 6]]
    with pytest.raises(ValueError, match="header announces 4 vectors, the file holds 3"):
        load_word_vectors(write(tmp_path / "short.txt", "4 2\nx 1 2\ny 3 4\nz 5 6\n"))
    with pytest.raises(ValueError, match="the header has dimension 2, expected dim=3"):
        load_word_vectors(path, dim=3)


def test_words_with_spaces_and_duplicates(tmp_path):
    path = write(tmp_path / "v.txt", "a 1 2\n. . . 3 4\na 5 6\n")
    matrix, found = load_word_vectors(path, {"a": 1, ". . .": 2})
    assert found == 2 and matrix.tolist() == [[0, 0], [1, 2], [3, 4]]


def test_dimension_mismatch_is_named(glove):
    with pytest.raises(ValueError, match="line 1 has dimension 3, expected dim=4"):
        load_word_vectors(glove, {"the": 1}, dim=4)


@pytest.mark.parametrize("content, message", [
    ("a 1 2\nb 3\nc 5 6\n", "line 2: expected a word and 2 values, found 2 fields"),
    ("a 1 2\nb 3 x\n", "line 2: malformed value"),
    ("a\n", "line 1: no vector values"),
    (b"a 1 2\nb\xff 3 4\n", "line 2: not UTF-8 text"),
    ("", "no vectors found"),
])
def test_malformed_files_name_the_line(tmp_path, content, message):
    path = write(tmp_path / "bad.txt", content)
    with pytest.raises(ValueError, match=message):
        load_word_vectors(path, {"a": 1, "b": 2})


def test_values_of_words_outside_the_index_are_not_parsed(tmp_path):
    path = write(tmp_path / "v.txt", "a 1 2\nzz 3 x\n")
    assert load_word_vectors(path, {"a": 1}).found == 1


def test_missing_file_and_zip_archives(tmp_path):
    with pytest.raises(FileNotFoundError, match="nlp.stanford.edu"):
        load_word_vectors(tmp_path / "glove.6B.100d.txt")
    archive = tmp_path / "glove.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("glove.txt", GLOVE)
    with pytest.raises(ValueError, match="zip archive"):
        load_word_vectors(archive)


floats32 = st.floats(width=32, allow_nan=False, allow_infinity=False)


@settings(max_examples=40, deadline=None)
@given(rows=st.lists(st.lists(floats32, min_size=3, max_size=3), min_size=1, max_size=6),
       compress=st.booleans())
def test_written_vectors_read_back_exactly(tmp_path_factory, rows, compress):
    words = [f"w{i}" for i in range(len(rows))]
    lines = "".join(f"{w} {' '.join(repr(float(v)) for v in row)}\n" for w, row in zip(words, rows))
    path = write(tmp_path_factory.mktemp("v") / "v.txt", lines, compress)
    expected = np.array(rows, dtype=np.float32)
    assert load_word_vectors(path).words == words
    np.testing.assert_array_equal(load_word_vectors(path).vectors, expected)
    matrix, found = load_word_vectors(path, {w: i + 1 for i, w in enumerate(words)})
    assert found == len(rows)
    np.testing.assert_array_equal(matrix[1:], expected)


def invalid_block_type(data):
    """gzip bytes whose first deflate block has the reserved block type 11 (after the 10-byte header)."""
    return data[:10] + bytes([data[10] | 0b110]) + data[11:]


@pytest.mark.parametrize("damage", [
    lambda data: data[:len(data) // 2],  # truncated mid-stream
    lambda data: data[:-4],  # the length trailer cut off
    invalid_block_type,
    lambda data: data[:-8] + b"\0" * 8,  # wrong CRC and length
    lambda data: data + b"\x1f\x8bjunk",  # a second member with a bad header
], ids=["truncated", "no-trailer", "bad-block", "bad-crc", "bad-second-member"])
def test_corrupt_or_truncated_gzip_is_a_clear_error(tmp_path, damage):
    rows = "".join(f"w{i} {i} {i + 1} {i + 2}\n" for i in range(3000))
    path = write(tmp_path / "vectors.txt.gz", damage(gzip.compress(rows.encode())))
    for word_index in (None, {"w1": 1}):
        with pytest.raises(ValueError, match=r"vectors\.txt\.gz, line \d+: the gzip data is corrupt or truncated"):
            load_word_vectors(path, word_index)
