"""Keras-compatible preprocessing: `text` (Tokenizer, word vectors) and `sequence` (pad_sequences).

Pure Python and NumPy; nothing here depends on the C++ core. Import the submodules as Keras code
does: `from fastrnn.preprocessing.text import Tokenizer`.
"""
from . import sequence, text

__all__ = ["sequence", "text"]
