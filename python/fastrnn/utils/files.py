"""keras.utils.get_file without the download: the path of a file (or extracted archive) already in
Keras' cache folder, where a Keras install puts what it downloads, else an error naming the URL
to fetch and the exact path to save it as. Local archives are extracted (safely) on request.
"""
from __future__ import annotations

import hashlib
import os
import tarfile
import tempfile
import urllib.parse
import zipfile


def _keras_home(cache_dir):
    """The cache base: cache_dir, else $KERAS_HOME, else ~/.keras (the folder Keras downloads to)."""
    if cache_dir is not None:
        return os.path.expanduser(os.fspath(cache_dir))
    from ..datasets._files import data_home  # one definition of the folder; datasets is imported only here
    return str(data_home().parent)


def _hash(path, algorithm):
    digest = hashlib.sha256() if algorithm == "sha256" else hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _extract(archive, target, archive_format):
    """Extract a tar or zip file into target (a new folder); False if it is neither."""
    formats = ["tar", "zip"] if archive_format == "auto" else [archive_format] if archive_format else []
    for kind in formats:
        if kind == "tar" and tarfile.is_tarfile(archive):
            with tarfile.open(archive) as f:
                f.extractall(target, filter="data")  # no absolute paths, links out, or devices
            return True
        if kind == "zip" and zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as f:
                f.extractall(target)  # zipfile drops absolute paths and '..' itself
            return True
    return False


def get_file(fname=None, origin=None, untar=False, md5_hash=None, file_hash=None, cache_subdir="datasets",
             hash_algorithm="auto", extract=False, archive_format="auto", cache_dir=None, force_download=False):
    """Keras' get_file, except that nothing is downloaded: the cached file's path, or an error.

    Looks where Keras would have saved `origin`: <cache_dir or $KERAS_HOME or ~/.keras>/<cache_subdir>/
    <fname> (Keras' fallback /tmp/.keras when that folder is not writable, too). With
    extract=True (or untar=True), returns the extracted folder as Keras 3 names it (<name>_extracted
    for fname 'name.tar.gz'), extracting the cached archive there first if needed.

    Args:
        fname: the file name (default: the last part of origin's path); no folders.
        origin: the URL the file comes from (named in the error; required).
        file_hash / md5_hash: the expected sha256 or md5 of the file, checked when given.
        cache_subdir: the folder under the cache base (an absolute path is used as is).
        hash_algorithm: "auto" (sha256 for 64 hex digits, else md5), "sha256" or "md5".
        extract, untar, archive_format ("auto", "tar", "zip"): extract a cached archive.
        cache_dir: the cache base instead of $KERAS_HOME or ~/.keras.
        force_download: not possible here: an error.

    Returns:
        The path (str) of the file, or of the extracted folder.

    Raises:
        FileNotFoundError: the file is not cached; the message says what to fetch and where to put it.
        ValueError: bad arguments, or a cached file whose hash does not match.

    Example:
        >>> path = fastrnn.utils.get_file("imdb.npz", origin="https://storage.googleapis.com/"
        ...                               "tensorflow/tf-keras-datasets/imdb.npz")
    """
    if not isinstance(origin, str) or not origin:
        raise ValueError(f"get_file: argument 'origin' must be the URL of the file, got {origin!r}")
    if force_download:
        raise ValueError(f"get_file: force_download=True asks for a download, and fastrnn never downloads: fetch "
                         f"{origin} yourself")
    if md5_hash is not None and file_hash is None:
        file_hash, hash_algorithm = md5_hash, "md5"
    if hash_algorithm not in ("auto", "sha256", "md5"):
        raise ValueError(f"get_file: argument 'hash_algorithm' must be 'auto', 'sha256' or 'md5', got "
                         f"{hash_algorithm!r}")
    given = fname is not None and os.fspath(fname) != ""
    fname = os.fspath(fname) if given else os.path.basename(urllib.parse.urlsplit(origin).path)
    if not fname:
        raise ValueError(f"get_file: cannot take a file name from origin {origin!r}; pass fname")
    if os.sep in fname:
        raise ValueError(f"get_file: argument 'fname' must be a file name without folders (use cache_dir or "
                         f"cache_subdir for the folder), got {fname!r}")
    base = _keras_home(cache_dir)
    bases = [base] if os.access(base, os.W_OK) or cache_dir is not None else \
        [base, os.path.join("/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir(), ".keras")]
    folders = [os.path.join(b, cache_subdir) for b in bases]
    # Keras 3's names: the archive, and the folder it is extracted to
    extract = extract or untar
    if extract and given and "." in fname:
        archive_name, extracted_name = fname, fname[:fname.find(".")] + "_extracted"
    elif extract:
        archive_name, extracted_name = fname + "_archive", fname
    else:
        archive_name, extracted_name = fname, None
    for folder in folders:
        archive = os.path.join(folder, archive_name)
        if extract and os.path.isdir(os.path.join(folder, extracted_name)):
            return os.path.join(folder, extracted_name)
        if not os.path.isfile(archive):
            continue
        if file_hash is not None:
            algorithm = hash_algorithm if hash_algorithm != "auto" else "sha256" if len(file_hash) == 64 else "md5"
            if _hash(archive, algorithm) != file_hash:
                raise ValueError(f"get_file: {archive} does not have the expected {algorithm} hash {file_hash} "
                                 f"(incomplete or outdated); replace it with the file from {origin}")
        if not extract:
            return archive
        target = os.path.join(folder, extracted_name)
        if not _extract(archive, target, "tar" if untar else archive_format):
            raise ValueError(f"get_file: {archive} is not a {archive_format} archive fastrnn can extract")
        return target
    wanted = os.path.join(folders[0], archive_name)
    raise FileNotFoundError(f"get_file: {wanted} not found, and fastrnn does not download: fetch {origin} and "
                            f"save it as {wanted}")
