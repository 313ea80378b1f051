"""Keras-compatible `fastrnn.preprocessing.text`: the names Keras code imports from there.

`Tokenizer` and `tokenizer_from_json` live in `tokenizer.py`, the word helpers in `words.py`,
and `load_word_vectors` (not in Keras; pretrained GloVe / word2vec vectors) in `embeddings.py`.
Nothing is defined here.
"""
from .embeddings import load_word_vectors
from .tokenizer import MODES, Tokenizer, tokenizer_from_json
from .words import DEFAULT_FILTERS, hashing_trick, one_hot, text_to_word_sequence

__all__ = ["Tokenizer", "tokenizer_from_json", "text_to_word_sequence", "one_hot", "hashing_trick",
           "load_word_vectors", "DEFAULT_FILTERS", "MODES"]
