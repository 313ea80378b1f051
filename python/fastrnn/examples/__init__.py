"""Runnable exercises: `python -m fastrnn.examples.<name>` for memory (the README demo), rows,
imdb, chars and forecast. Each has small defaults (about a minute on 2 cores) and full-size options.
"""
