"""Atomic file writes for every fastrnn save: write a temporary file beside the target, fsync it,
os.replace it over the target, fsync the directory. An interrupted save leaves the old file.

Not a lock: two writers of one target each produce a whole file and the last rename wins.
Temporaries left by killed writers are removed by the next save of the same target.
"""
from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import stat

_PREFIX = ".fastrnn-"
_NAME_CHARS = 200  # of the target's name kept in a temporary's name (which must stay under NAME_MAX)


@contextlib.contextmanager
def atomic_write(path):
    """Open a binary file that replaces `path` in one step once the block ends without error.

    The temporary file is `.fastrnn-<pid>-<random>-<name>.tmp` in the target's directory (name:
    the target's, cut to 200 characters); such files of the same target whose writer process is
    gone (killed mid-save) are removed first.
    The new file gets the mode of the file it replaces, else the mode a plain open() gives
    (0o666 without the umask's bits). After the rename the directory is fsynced, so the new
    name survives a power loss.

    Args:
        path: the file to write (str or os.PathLike).

    Yields:
        A file object open for binary writing.

    Raises:
        OSError: the directory cannot be written; the target is left as it was.

    Example:
        >>> with atomic_write("model.npz") as f:
        ...     np.savez(f, w=np.zeros(3))
    """
    path = os.path.abspath(os.fspath(path))
    directory, name = os.path.split(path)
    name = name[:_NAME_CHARS]
    _remove_stale_temporaries(directory, name)
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        mode = 0o666 & ~_umask()
    tmp = os.path.join(directory, f"{_PREFIX}{os.getpid()}-{secrets.token_hex(4)}-{name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # private until it is complete
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fchmod(f.fileno(), mode)
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_directory(directory)


def _remove_stale_temporaries(directory, name):
    """Delete this target's temporary files whose writing process no longer exists."""
    pattern = re.compile(re.escape(_PREFIX) + r"(\d+)-[0-9a-f]+-" + re.escape(name) + r"\.tmp")
    try:
        with os.scandir(directory) as entries:
            stale = [e.path for e in entries if (m := pattern.fullmatch(e.name)) and not _alive(int(m[1]))]
    except OSError:  # housekeeping only: opening the new temporary reports a directory we cannot use
        return
    for tmp in stale:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _alive(pid) -> bool:
    """Whether a process with this id exists (one we may not signal counts as alive)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OverflowError, OSError):  # PermissionError: it exists but is not ours
        return True  # never touch the file of a process that may be alive
    return True


def _umask() -> int:
    """The process umask, read without changing it where the system allows (Linux /proc)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore at once (the only portable way to read it)
    os.umask(mask)
    return mask


def _fsync_directory(directory):
    """Make the rename durable: fsync the directory that holds the new name (POSIX only)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # e.g. Windows cannot open a directory; there the rename is durable as is
        return
    try:
        os.fsync(fd)
    except OSError as err:
        if err.errno not in (errno.EINVAL, errno.ENOTSUP):  # some file systems cannot sync a directory
            raise
    finally:
        os.close(fd)
