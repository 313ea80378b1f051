"""fastrnn.preprocessing.sequence.pad_sequences against hand-written Keras results.

keras-preprocessing's own pad_sequences no longer runs under NumPy 2, so the expectations are
written out; a property test checks the general rule (kept items, padding, shape) on random input.
Values the dtype cannot represent are errors that name the argument.
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from fastrnn.preprocessing.sequence import pad_sequences

RAGGED = [[1, 2, 3, 4], [5], [], [6, 7]]


def test_defaults_pad_and_truncate_at_the_start():
    x = pad_sequences(RAGGED)
    assert x.dtype == np.int32
    assert x.tolist() == [[1, 2, 3, 4], [0, 0, 0, 5], [0, 0, 0, 0], [0, 0, 6, 7]]


@pytest.mark.parametrize("padding, truncating, expected", [
    ("pre", "pre", [[3, 4], [0, 5], [0, 0], [6, 7]]),
    ("post", "pre", [[3, 4], [5, 0], [0, 0], [6, 7]]),
    ("pre", "post", [[1, 2], [0, 5], [0, 0], [6, 7]]),
    ("post", "post", [[1, 2], [5, 0], [0, 0], [6, 7]]),
])
def test_padding_and_truncating_sides(padding, truncating, expected):
    x = pad_sequences(RAGGED, maxlen=2, padding=padding, truncating=truncating)
    assert x.tolist() == expected


def test_longer_maxlen_value_and_dtype():
    x = pad_sequences([[1, 2], [3]], maxlen=4, value=-1.5, dtype="float32", padding="post")
    assert x.dtype == np.float32
    assert x.tolist() == [[1, 2, -1.5, -1.5], [3, -1.5, -1.5, -1.5]]


def test_empty_inputs_and_maxlen_zero():
    assert pad_sequences([]).shape == (0, 0)
    assert pad_sequences([], maxlen=3).shape == (0, 3)
    assert pad_sequences([[], []]).tolist() == [[], []]
    for truncating in ("pre", "post"):
        assert pad_sequences(RAGGED, maxlen=0, truncating=truncating).shape == (4, 0)


def test_entries_of_any_sequence_type():
    x = pad_sequences([np.array([1, 2, 3]), (4,), range(5, 7)], maxlen=2)
    assert x.tolist() == [[2, 3], [0, 4], [5, 6]]
    assert pad_sequences(np.array([[1, 2], [3, 4]]), maxlen=3).tolist() == [[0, 1, 2], [0, 3, 4]]


def test_items_with_a_shape():
    x = pad_sequences([np.ones((3, 2)), np.full((1, 2), 5)], maxlen=2, dtype="float64")
    assert x.shape == (2, 2, 2)
    assert x.tolist() == [[[1, 1], [1, 1]], [[0, 0], [5, 5]]]
    with pytest.raises(ValueError, match=r"entry 1 has items of shape \(3,\)"):
        pad_sequences([np.ones((2, 2)), np.ones((2, 3))])


def test_strings():
    x = pad_sequences([["a", "bb"], ["ccc"]], dtype=object, value=None)
    assert x.tolist() == [["a", "bb"], [None, "ccc"]]
    x = pad_sequences([["a", "bb"], ["cccc"]], dtype=str, value="<pad>", padding="post")
    assert x.tolist() == [["a", "bb"], ["cccc", "<pad>"]]  # not cut to one character
    assert pad_sequences([["ab"]], maxlen=2, dtype="<U1", value="-").tolist() == [["-", "a"]]


@pytest.mark.parametrize("kwargs, message", [
    (dict(padding="middle"), "'padding'"),
    (dict(truncating="both"), "'truncating'"),
    (dict(maxlen=-1), "'maxlen'"),
    (dict(maxlen=2.5), "'maxlen'"),
    (dict(value="x"), "dtype=object"),
    (dict(dtype=str, value=0), "'value'"),
])
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        pad_sequences([[1, 2]], **kwargs)


def test_non_sequence_entries_are_named():
    with pytest.raises(ValueError, match="entry 1 is int"):
        pad_sequences([[1], 5])
    with pytest.raises(ValueError, match="'sequences'"):
        pad_sequences(iter([[1]]))


@settings(max_examples=100, deadline=None)
@given(sequences=st.lists(st.lists(st.integers(-5, 100), max_size=7), max_size=6),
       maxlen=st.one_of(st.none(), st.integers(0, 9)), padding=st.sampled_from(["pre", "post"]),
       truncating=st.sampled_from(["pre", "post"]))
def test_rows_hold_the_kept_items_and_padding(sequences, maxlen, padding, truncating):
    x = pad_sequences(sequences, maxlen=maxlen, padding=padding, truncating=truncating, value=-9)
    width = max(map(len, sequences), default=0) if maxlen is None else maxlen
    assert x.shape == (len(sequences), width)
    for row, seq in zip(x.tolist(), sequences):
        kept = seq[max(len(seq) - width, 0):] if truncating == "pre" else seq[:width]
        pad = [-9] * (width - len(kept))
        assert row == (pad + kept if padding == "pre" else kept + pad)


@pytest.mark.parametrize("sequences, kwargs, message", [
    ([[1, 2]], dict(value=1e20), "argument 'value' holds 1e\\+20, which int32 cannot represent exactly"),
    ([[1, 2]], dict(value=float("nan")), "argument 'value' holds nan"),
    ([[1, 2]], dict(value=float("inf"), dtype="int64"), "argument 'value' holds inf"),
    ([[1, 2]], dict(value=0.5), "argument 'value' holds 0.5"),
    ([[1, 2]], dict(value=-1, dtype="uint8"), "argument 'value' holds -1, which uint8"),
    ([[1, 2]], dict(value=1e39, dtype="float32"), "'value' holds 1e\\+39, which float32 cannot represent without"),
    ([[1, 2]], dict(value=None), "argument 'value' holds values that int32 cannot represent"),
    ([[1, 2 ** 40]], {}, "argument 'sequences' holds 1099511627776, which int32"),
    ([np.array([1, 2 ** 40])], {}, "argument 'sequences' holds 1099511627776"),  # NumPy would wrap it to 0
    ([[1], [-1]], dict(dtype="uint8"), "argument 'sequences' holds -1, which uint8"),
    ([[1.0, float("nan")]], {}, "argument 'sequences' holds nan"),
    ([[1.5]], dict(dtype="int64"), "argument 'sequences' holds 1.5"),
    ([[2 ** 70]], dict(dtype="int64"), "argument 'sequences' holds values that int64 cannot represent"),
    ([[1, None]], {}, "argument 'sequences' holds values that int32 cannot represent"),
    ([[1e39]], dict(dtype="float32"), "argument 'sequences' holds 1e\\+39"),
    ([[1, 2]], dict(maxlen=True), "argument 'maxlen' must be None or an int >= 0, got True"),
])
def test_values_the_dtype_cannot_represent_are_named(sequences, kwargs, message):
    with pytest.raises(ValueError, match=message):
        pad_sequences(sequences, **kwargs)


def test_bad_dtype_is_named():
    with pytest.raises(TypeError, match="argument 'dtype' must be a NumPy dtype, got 'int33'"):
        pad_sequences([[1]], dtype="int33")


def test_representable_values_keep_keras_results():
    assert pad_sequences([[1.0, 2.0]], maxlen=3).tolist() == [[0, 1, 2]]
    assert pad_sequences([[1, 2]], maxlen=3, value=np.nan, dtype="float32")[0, 0] != 0  # NaN padding
    assert pad_sequences([[255, 0]], dtype="uint8", value=255.0).tolist() == [[255, 0]]
    assert pad_sequences([[0.1, 1e30]], dtype="float32").dtype == np.float32  # rounded, not overflowed
    assert pad_sequences([np.array([2 ** 40], np.int64)], dtype="int64").tolist() == [[2 ** 40]]
    assert pad_sequences([[True, False]], dtype="bool", maxlen=3).tolist() == [[False, True, False]]
