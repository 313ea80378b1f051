"""Datasets the user already has on disk, read in their usual formats; nothing is downloaded.

`imdb` and `mnist` read Keras' .npz files (imdb also the raw aclImdb/ folder); a missing file
raises FileNotFoundError with the URL to fetch and the place to put it. `corpus` gives real
English text present on every machine; `chars` turns text into char-RNN training windows.
"""
from . import chars, corpus, imdb, mnist

__all__ = ["chars", "corpus", "imdb", "mnist"]
