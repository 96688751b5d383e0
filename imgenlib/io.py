"""Crash-safe file output: every file is written to a temporary sibling, then renamed.

A process killed mid-write therefore leaves either the previous complete file or the new
complete file, never a truncated one (`os.replace` is atomic on POSIX and Windows).
`lock_directory` keeps a directory to one writing process at a time.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import socket
import tempfile
import time
from pathlib import Path

__all__ = [
    "DirectoryInUse",
    "atomic_path",
    "check_output_file",
    "ensure_writable_dir",
    "load_json",
    "lock_directory",
    "remove_stale_temporaries",
    "save_json",
]


def ensure_writable_dir(path) -> Path:
    """Create directory `path` if needed and check that files can be written in it.

    Raises:
        ValueError: if `path` exists and is not a directory, or is not writable.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"Output path must be a directory. Received: {str(path)!r} is a file")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-test-"):
            pass
    except OSError as error:
        raise ValueError(
            f"Cannot write to output directory {str(path)!r}: {error.strerror or error}"
        ) from None
    return path


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path next to `path`; on success, rename it onto `path`.

    The temporary name keeps the extension, because writers such as Keras and PIL choose
    the format from it::

        with atomic_path("out/model.keras") as tmp:
            model.save(tmp)

    On an exception the temporary file is removed and `path` is left untouched.

    Raises:
        ValueError: the directory of `path` cannot be created (e.g. a parent is a file).
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ValueError(
            f"Cannot write to output directory {str(path.parent)!r}: {error.strerror or error}"
        ) from None
    suffixes = "".join(path.suffixes)  # all of them: Keras wants "*.weights.h5" intact
    stem = path.name[: len(path.name) - len(suffixes)] if suffixes else path.name
    tmp = path.with_name(f".{stem}.{os.getpid()}-{secrets.token_hex(4)}.tmp{suffixes}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def save_json(obj, path, *, indent: int = 2) -> Path:
    """Write `obj` as JSON to `path` atomically and return the path."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(
            json.dumps(obj, indent=indent, sort_keys=False, default=_json_default) + "\n"
        )
    return path


def load_json(path):
    """Read a JSON file."""
    return json.loads(Path(path).read_text())


def _json_default(value):
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serialisable")


_TEMPORARY = re.compile(r"^\..+\.(\d+)-[0-9a-f]{8}\.tmp(\.|$)")


def remove_stale_temporaries(directory) -> int:
    """Delete temporary files that `atomic_path` left in `directory` when its process was killed.

    Only files named like ours whose writing process no longer exists are removed, so a
    concurrent writer's file in progress is left alone. Returns how many were removed.
    """
    removed = 0
    directory = Path(directory)
    if not directory.is_dir():
        return 0
    for path in directory.iterdir():
        match = _TEMPORARY.match(path.name)
        if match and path.is_file() and not _process_exists(int(match.group(1))):
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class DirectoryInUse(ValueError):
    """Another process holds the lock of a directory (`lock_directory`)."""


@contextlib.contextmanager
def lock_directory(directory, *, purpose: str = "writing"):
    """Hold an exclusive lock on `directory` (its ``.lock`` file) for the ``with`` block.

    The lock is an ``flock`` on ``directory/.lock`` (``msvcrt.locking`` on Windows): the
    operating system releases it when the holding process ends, however it ends, so a
    process killed with SIGKILL never leaves a lock that blocks the next one. The file
    holds the holder's pid, host and start time, for the message of the process refused.
    (Network file systems may not honour ``flock`` across machines.)

    Args:
        directory: an existing directory.
        purpose: what the holder does, for the refusal message (e.g. ``"training"``).

    Raises:
        DirectoryInUse: another process holds the lock; the message names it and since when.
    """
    path = Path(directory) / ".lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if not _try_lock(fd):
            raise DirectoryInUse(
                f"{str(directory)!r} is in use: {_holder(path)}. One process per directory; "
                "wait for it to finish or stop it, then run again (it resumes)."
            )
        record = {
            "pid": os.getpid(), "host": socket.gethostname(), "purpose": purpose,
            "since": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        }  # fmt: skip
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps(record).encode())
        try:
            yield path
        finally:
            os.ftruncate(fd, 0)  # the holder's record ends with its lock
    finally:
        os.close(fd)  # releases the lock


def _try_lock(fd: int) -> bool:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _holder(path: Path) -> str:
    try:
        record = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        record = {}
    if "pid" not in record:
        return "another process holds its lock"
    return (
        f"{record.get('purpose', 'writing')} by pid {record['pid']} on "
        f"{record.get('host', '?')} since {record.get('since', '?')}"
    )


def check_output_file(flag: str, value: str, suffix: str) -> None:
    """Raise unless `value` names a `suffix` file in a writable (created) directory."""
    if Path(value).suffix.lower() != suffix:
        raise ValueError(f"{flag} must be a {suffix} file. Received: {flag}={value!r}")
    ensure_writable_dir(Path(value).parent)
