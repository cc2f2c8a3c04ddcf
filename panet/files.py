"""File handling shared by every writer and reader: atomic outputs, up-front input checks."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["atomic_output", "check_input_file"]


@contextmanager
def atomic_output(path: str | os.PathLike, suffix: str = "") -> Iterator[str]:
    """Yield a temporary path beside ``path``; on success it is synced and renamed onto
    ``path``, on any failure (Ctrl-C included) it is removed: never a half-written file.

    >>> import tempfile, os
    >>> target = os.path.join(tempfile.mkdtemp(), "out.txt")
    >>> with atomic_output(target) as partial:
    ...     _ = open(partial, "w").write("done")
    >>> open(target).read()
    'done'
    """
    folder = os.path.dirname(os.path.abspath(os.fspath(path)))
    handle, temporary = tempfile.mkstemp(prefix=".partial-", suffix=suffix, dir=folder)
    os.close(handle)
    try:
        yield temporary
        with open(temporary, "rb") as written:
            os.fsync(written.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def check_input_file(path: str, error: type[Exception]) -> None:
    """Raise ``error`` with a one-line reason if ``path`` is missing, not a file, or empty."""
    if os.path.isdir(path):
        raise error(f"{path} is a folder, not a file")
    if not os.path.isfile(path):
        raise error(f"{path}: no such file")
    if os.path.getsize(path) == 0:
        raise error(f"{path}: the file is empty")
