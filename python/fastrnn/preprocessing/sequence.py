"""Keras-compatible `pad_sequences`: ragged sequences to one (samples, maxlen, ...) array.

Same arguments, defaults and results as keras-preprocessing's `pad_sequences`, which no longer
runs under NumPy 2. Not here: tokenization (`text.py`) or batching.
"""
from __future__ import annotations

import numpy as np

__all__ = ["pad_sequences"]

_SIDES = ("pre", "post")
_NUMERIC = "biufc"  # dtype kinds whose values are checked: bool, int, uint, float, complex


def pad_sequences(sequences, maxlen=None, dtype="int32", padding="pre", truncating="pre",
                  value=0.0):
    """Pad (or cut) every sequence to `maxlen` items and stack them into one array.

    Sequences longer than `maxlen` lose items at the start ('pre', keeping the last `maxlen`) or
    at the end ('post'); shorter ones get `value` before ('pre') or after ('post') their items.
    Entries may be lists, tuples, NumPy arrays or strings; items may themselves be arrays of one
    common shape (taken from the first non-empty entry), which becomes the trailing shape.

    Differences from Keras, where Keras fails or corrupts data: `maxlen=0` gives (n, 0) for both
    truncating sides, an empty `sequences` gives a (0, maxlen or 0) array, a bare str dtype is
    sized to the longest string instead of one character, `padding`/`truncating` are checked
    even when no sequence needs them, and a `value` or item that `dtype` cannot represent (NaN,
    inf, a fraction or an out-of-range number into an integer dtype; overflow to inf in a float
    dtype) is an error where Keras casts it silently or fails midway.

    Args:
        sequences: a sized iterable (list, tuple, array) of sequences.
        maxlen: length of the output rows; default: the longest sequence.
        dtype: output dtype; use object (or a str dtype) for sequences of strings.
        padding: 'pre' or 'post', where the padding goes.
        truncating: 'pre' or 'post', where items are removed from long sequences.
        value: the padding value; a str needs dtype object or a str dtype, and a str dtype needs
            a str value.

    Returns:
        An array of shape (len(sequences), maxlen) + item shape.

    Raises:
        ValueError: naming the argument at fault, before anything is filled: `sequences` not
            sized, an entry that is not a sequence, whose items have another shape or that
            `dtype` cannot represent; a bad `padding`, `truncating` or `maxlen` (a bool is not an
            int); a `value` that `dtype` cannot represent.
        TypeError: `dtype` is not a NumPy dtype.

    Example:
        >>> pad_sequences([[1, 2, 3], [4]], maxlen=2)
        array([[2, 3],
               [0, 4]], dtype=int32)
    """
    if not hasattr(sequences, "__len__"):
        raise ValueError(f"argument 'sequences' must be a list of sequences, got "
                         f"{type(sequences).__name__}")
    if padding not in _SIDES:
        raise ValueError(f"argument 'padding' must be 'pre' or 'post', got {padding!r}")
    if truncating not in _SIDES:
        raise ValueError(f"argument 'truncating' must be 'pre' or 'post', got {truncating!r}")
    if maxlen is not None and (isinstance(maxlen, bool) or not isinstance(maxlen, (int, np.integer))
                               or maxlen < 0):
        raise ValueError(f"argument 'maxlen' must be None or an int >= 0, got {maxlen!r}")
    try:
        dtype = np.dtype(dtype)
    except TypeError as err:
        raise TypeError(f"argument 'dtype' must be a NumPy dtype, got {dtype!r} ({err})") from None
    is_str_dtype = dtype.kind == "U"
    numeric = dtype.kind in _NUMERIC
    if isinstance(value, str) and dtype != object and not is_str_dtype:
        raise ValueError(f"`dtype` {dtype} is not compatible with `value`'s type: {type(value)}\n"
                         f"You should set `dtype=object` for variable length strings.")
    if is_str_dtype and not isinstance(value, str):
        raise ValueError(f"argument 'value' must be a str when dtype is {dtype}, got {value!r}")
    _check_representable(value, dtype, "value")

    lengths, item_shape = [], None
    for i, seq in enumerate(sequences):
        try:
            lengths.append(len(seq))
        except TypeError:
            raise ValueError(f"argument 'sequences' must hold sequences; entry {i} is "
                             f"{type(seq).__name__}: {seq!r}") from None
        if item_shape is None and len(seq):
            item_shape = np.asarray(seq).shape[1:]
    item_shape = item_shape or ()
    if maxlen is None:
        maxlen = max(lengths, default=0)

    rows = []
    for i, seq in enumerate(sequences):
        kept = seq[max(len(seq) - maxlen, 0):] if truncating == "pre" else seq[:maxlen]
        if not len(kept):
            kept = None
        else:  # numbers keep their own dtype until _check_representable has seen them
            kept = np.asarray(kept) if numeric else np.asarray(kept, dtype=dtype)
        if kept is not None and kept.shape[1:] != item_shape:
            raise ValueError(f"argument 'sequences': entry {i} has items of shape "
                             f"{kept.shape[1:]}, expected {item_shape} (the shape of the first "
                             f"non-empty entry)")
        rows.append(kept)
    if numeric and any(row is not None for row in rows):
        _check_representable(np.concatenate([row.ravel() for row in rows if row is not None]), dtype, "sequences")
    if is_str_dtype and dtype.itemsize == 0:  # a bare str dtype: size it to the longest string
        sizes = [row.dtype.itemsize for row in rows if row is not None]
        dtype = np.dtype((dtype.type, max(sizes + [len(value)])))

    x = np.full((len(sequences), maxlen) + tuple(item_shape), value, dtype=dtype)
    for i, kept in enumerate(rows):
        if kept is None:
            continue
        if padding == "post":
            x[i, :len(kept)] = kept
        else:
            x[i, maxlen - len(kept):] = kept
    return x


def _check_representable(values, dtype, argument):
    """A ValueError naming `argument` unless numeric `dtype` holds every one of `values`: exactly
    for bool and int dtypes, without overflowing to inf for float dtypes (text is parsed, as NumPy
    does, and not compared)."""
    if dtype.kind not in _NUMERIC:
        return
    values = np.asarray(values)
    try:
        with np.errstate(invalid="ignore", over="ignore"):
            cast = values.astype(dtype)
            if values.dtype.kind in "US":
                return
            if dtype.kind in "fc":
                bad = np.isinf(cast) & ~np.isinf(values.astype(np.complex128))
            else:
                bad = cast != values  # NaN equals nothing; wrapped or truncated values differ
    except (TypeError, ValueError, OverflowError) as err:
        raise ValueError(f"argument {argument!r} holds values that {dtype} cannot represent ({err})") from None
    if np.any(bad):
        how = "without overflowing to inf" if dtype.kind in "fc" else "exactly"
        first = values[bad].ravel()[:1].tolist()[0]
        raise ValueError(f"argument {argument!r} holds {first!r}, which {dtype} cannot represent {how}; "
                         f"pass a dtype that can")
