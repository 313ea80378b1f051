"""Vectorized word splitting, counting and lookup: the fast path behind `text.Tokenizer`.

Texts are joined into one UTF-8 buffer and cut at separator bytes with NumPy; each word of up to
15 bytes gets an exact two-integer key (its bytes and its length), longer words go through a dict.
This is not a tokenizer of its own: `Tokenizer` decides when to use it, and only for ASCII
one-character `split` and ASCII `filters`, where splitting bytes equals Keras' str.split.
"""
from __future__ import annotations

from operator import methodcaller
from typing import NamedTuple, Optional

import numpy as np

SHORT = 15  # words of at most this many UTF-8 bytes get an exact key (bytes + length in one byte)
_LOW_BYTES = np.array([(1 << (8 * n)) - 1 for n in range(9)], dtype=np.uint64)  # n low bytes set
_KEY0_MASK = _LOW_BYTES[np.minimum(np.arange(SHORT + 2), 8)]
_KEY1_MASK = _LOW_BYTES[np.clip(np.arange(SHORT + 2) - 8, 0, 8)]
_KEY1_LEN = np.arange(SHORT + 2, dtype=np.uint64) << np.uint64(56)
_MIX0 = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_ENCODE = methodcaller("encode", "utf-8", "surrogatepass")  # lone surrogates survive a round trip


def supported(filters, split) -> bool:
    """Whether byte-level splitting reproduces `text_to_word_sequence` for these arguments."""
    if not (isinstance(split, str) and len(split) == 1 and split.isascii()):
        return False
    try:
        chars = list(filters)
    except TypeError:
        return False
    return all(isinstance(c, str) and len(c) == 1 and c.isascii() for c in chars)


class Words(NamedTuple):
    """Words of a batch of texts, located inside one zero-padded UTF-8 buffer.

    buf: the texts joined by the split byte, plus 16 zero bytes; starts, ends: (N,) byte offsets
    of the N words in text order; per_text: (T,) words in each text; key0, key1: (N,) exact keys
    of the words of at most SHORT bytes (meaningless for longer ones); long: indices of the rest.
    """

    buf: bytes
    starts: np.ndarray
    ends: np.ndarray
    per_text: np.ndarray
    key0: np.ndarray
    key1: np.ndarray
    long: np.ndarray

    def decode(self, index: np.ndarray, split: str) -> list:
        """The words at `index` as str, decoded in one call."""
        return _decode(self.buf, self.starts[index], self.ends[index], split)


def split_texts(texts: list, filters, split: str, lower: bool) -> Words:
    """Cut `texts` (a list of str) into words exactly as `text_to_word_sequence` does."""
    try:
        encoded = list(map(str.encode, texts))
    except UnicodeEncodeError:  # a lone surrogate: give it its 3-byte "surrogatepass" form
        encoded = list(map(_ENCODE, texts))
    lengths = np.fromiter(map(len, encoded), np.int64, len(encoded))
    if lower:
        # bytes.lower() below only lowercases ASCII letters: texts with other characters (more
        # bytes than characters) take str.lower() first, which leaves no ASCII capital behind
        chars = np.fromiter(map(len, texts), np.int64, len(texts))
        for i in np.flatnonzero(lengths != chars).tolist():
            encoded[i] = _ENCODE(texts[i].lower())
            lengths[i] = len(encoded[i])
        if split.isupper():  # the joiner itself must stay a capital letter
            encoded = list(map(bytes.lower, encoded))
    # one buffer: a separator, the texts each followed by a separator, then 16 zero bytes
    buf = split.encode().join([b""] + encoded + [bytes(16)])
    if lower and not split.isupper():
        buf = buf.lower()
    table = bytearray(256)
    for c in filters:
        table[ord(c)] = 1
    table[ord(split)] = 1
    # words start and end where the separator flag changes
    is_sep = np.frombuffer(buf.translate(bytes(table)), dtype=bool)[:len(buf) - 16]
    edges = np.flatnonzero(is_sep[1:] != is_sep[:-1])
    edges += 1
    starts, ends = edges[0::2], edges[1::2]
    word_lengths = ends - starts
    text_starts = np.cumsum(lengths + 1) - lengths
    per_text = np.diff(np.searchsorted(starts, text_starts), append=len(starts))
    key0, key1 = _keys(buf, starts, word_lengths)
    long = np.flatnonzero(word_lengths > SHORT)
    return Words(buf, starts, ends, per_text, key0, key1, long)


def count_words(words: Words, split: str) -> Optional[tuple]:
    """Distinct words in first-seen order with their counts and the number of texts holding each.

    Returns (words, counts, text_counts) as lists, or None when two different words share a hash
    prefix (the caller then counts this batch in Python).
    """
    n = len(words.starts)
    if n == 0:
        return [], [], []
    text_of = np.repeat(np.arange(len(words.per_text)), words.per_text)
    is_short = np.ones(n, bool)
    is_short[words.long] = False
    short = np.flatnonzero(is_short)
    key0, key1 = words.key0[short], words.key1[short]
    # group the short words: sort (hash prefix, position) packed in one integer, stable by position
    bits = max(1, int(len(short)).bit_length())
    packed = _slots(key0, key1, np.uint64(bits)).view(np.uint64)
    packed <<= np.uint64(bits)
    packed |= np.arange(len(short), dtype=np.uint64)
    packed.sort()
    order = (packed & np.uint64((1 << bits) - 1)).astype(np.intp)
    prefix = packed >> np.uint64(bits)
    new_group = np.ones(len(short), bool)
    new_group[1:] = prefix[1:] != prefix[:-1]
    group_start = np.flatnonzero(new_group)
    counts = np.diff(group_start, append=len(short))
    first = order[group_start]
    same = np.repeat(first, counts)  # the first word of each sorted word's group
    if not (np.array_equal(key0[order], key0[same]) and np.array_equal(key1[order], key1[same])):
        return None
    texts_sorted = text_of[short][order]
    new_text = new_group.copy()
    new_text[1:] |= texts_sorted[1:] != texts_sorted[:-1]
    text_counts = np.add.reduceat(new_text.astype(np.int64), group_start) if len(short) else counts
    first_pos = short[first]
    names = words.decode(first_pos, split)
    counts, text_counts, first_pos = counts.tolist(), text_counts.tolist(), first_pos.tolist()
    if len(words.long):  # long words: counted in a dict, merged by first position
        found = {}
        for pos, word, text in zip(words.long.tolist(), words.decode(words.long, split),
                                   text_of[words.long].tolist()):
            entry = found.get(word)
            if entry is None:
                found[word] = [pos, 1, 1, text]
            else:
                entry[1] += 1
                entry[2] += entry[3] != text
                entry[3] = text
        names += list(found)
        first_pos += [e[0] for e in found.values()]
        counts += [e[1] for e in found.values()]
        text_counts += [e[2] for e in found.values()]
    rank = np.argsort(np.array(first_pos), kind="stable").tolist()
    return ([names[i] for i in rank], [counts[i] for i in rank], [text_counts[i] for i in rank])


class VocabTable:
    """An open-addressing hash table from exact word keys to the index a conversion emits.

    Keras' rule is applied once here: a `word_index` value at or above `num_words` (when set)
    becomes `oov_index`, or the word is left out when `oov_index` is None. Words longer than
    SHORT bytes are looked up in `word_index` itself. Raises TypeError when a value is not an
    int (the caller then converts in Python).
    """

    def __init__(self, word_index: dict, num_words=None, oov_index=None):
        if not all(type(v) is int for v in word_index.values()):
            raise TypeError("word_index values must all be int for the vectorized lookup")
        self.word_index, self.num_words, self.oov_index = word_index, num_words, oov_index
        names = [w for w in word_index if isinstance(w, str)]
        values = np.fromiter((word_index[w] for w in names), np.int64, len(names))
        encoded = [w.encode("utf-8", "surrogatepass") for w in names]
        lengths = np.fromiter(map(len, encoded), np.int64, len(encoded))
        starts = np.cumsum(lengths) - lengths
        key0, key1 = _keys(b"".join(encoded) + bytes(16), starts, lengths)
        # words that no text can produce (empty, long, or holding a separator) need no slot;
        # a separator would show up as a key no split word can equal, so only length matters here
        keep = (lengths > 0) & (lengths <= SHORT)
        if num_words:
            if oov_index is None:
                keep &= values < num_words
            else:
                values[values >= num_words] = oov_index
        key0, key1, values = key0[keep], key1[keep], values[keep]
        size = 1 << max(4, (2 * len(values)).bit_length())
        self.shift = np.uint64(64 - (size.bit_length() - 1))
        self.mask = size - 1
        self.key0 = np.zeros(size, np.uint64)
        self.key1 = np.zeros(size, np.uint64)  # 0 marks an empty slot: real keys hold a length >= 1
        self.values = np.zeros(size, np.int64)
        todo = np.arange(len(values))
        slot = _slots(key0, key1, self.shift)
        while len(todo):  # linear probing, one word per free slot per round
            free = self.key1[slot] == 0
            _, first = np.unique(slot[free], return_index=True)
            won = todo[free][first]
            won_slot = slot[free][first]
            self.key0[won_slot], self.key1[won_slot] = key0[won], key1[won]
            self.values[won_slot] = values[won]
            placed = np.zeros(len(values), bool)
            placed[won] = True
            left = ~placed[todo]
            todo, slot = todo[left], (slot[left] + 1) & self.mask

    def lookup(self, words: Words, split: str) -> tuple:
        """(values, found): (N,) int64 indices to emit for the words (valid where found)."""
        # long words carry length 16 in key1, which no table key has: they miss here, and are
        # looked up by name below
        slot = _slots(words.key0, words.key1, self.shift)
        slot_key1 = self.key1[slot]
        found = (slot_key1 == words.key1) & (self.key0[slot] == words.key0)
        values = self.values[slot]
        todo = np.flatnonzero(~found & (slot_key1 != 0))
        slot = slot[todo]
        while len(todo):  # the words that collided with another one in their first slot
            slot = (slot + 1) & self.mask
            slot_key1 = self.key1[slot]
            hit = (slot_key1 == words.key1[todo]) & (self.key0[slot] == words.key0[todo])
            values[todo[hit]] = self.values[slot[hit]]
            found[todo[hit]] = True
            go_on = ~hit & (slot_key1 != 0)
            todo, slot = todo[go_on], slot[go_on]
        if len(words.long):
            long_values = list(map(self._rule, map(self.word_index.get,
                                                   words.decode(words.long, split))))
            hits = [i for i, v in enumerate(long_values) if v is not None]
            values[words.long[hits]] = [long_values[i] for i in hits]
            found[words.long[hits]] = True
        return values, found

    def _rule(self, value):
        """The index emitted for a word_index value (None: nothing)."""
        if value is not None and self.num_words and value >= self.num_words:
            return self.oov_index
        return value


def _keys(buf: bytes, starts: np.ndarray, lengths: np.ndarray) -> tuple:
    """Exact keys of the words at `starts`: bytes 0-7, and bytes 8-14 with the length on top."""
    # every start as an unaligned little-endian uint64 view into the buffer (it ends in 16 zeros)
    view = np.ndarray((len(buf) - 7,), dtype="<u8", buffer=buf, strides=(1,))
    clipped = np.minimum(lengths, SHORT + 1)
    key0 = view[starts]
    key0 &= _KEY0_MASK[clipped]
    key1 = _KEY1_LEN[clipped]
    over8 = np.flatnonzero(lengths > 8)  # only these have bytes past the first eight
    tail = view[starts[over8] + 8]
    tail &= _KEY1_MASK[clipped[over8]]
    key1[over8] |= tail
    return key0, key1


def _slots(key0: np.ndarray, key1: np.ndarray, shift: np.uint64) -> np.ndarray:
    """Top bits of a 64-bit mix of the two keys, as int64: table slots or sort groups."""
    mixed = key1 * _MIX0
    mixed ^= key0
    mixed *= _MIX1
    mixed >>= shift
    return mixed.view(np.int64)


def _decode(buf: bytes, starts: np.ndarray, ends: np.ndarray, split: str) -> list:
    """buf[s:e] for each pair, as str: gathered into one byte string, decoded, then split."""
    if len(starts) == 0:
        return []
    lengths = ends - starts + 1  # each word plus the separator byte that follows it
    out_starts = np.cumsum(lengths) - lengths
    take = np.repeat(starts - out_starts, lengths) + np.arange(int(lengths.sum()))
    gathered = np.frombuffer(buf, np.uint8)[take]
    gathered[out_starts + lengths - 1] = ord(split)
    return gathered.tobytes().decode("utf-8", "surrogatepass").split(split)[:-1]
