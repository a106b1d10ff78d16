"""A command's own standard streams: writes that a closed pipe, a closed descriptor or a full device
cannot break (typer-free and cheap: the launcher enters them for ``--version`` too)."""

from __future__ import annotations

import io
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TextIO


class _QuietFd(io.RawIOBase):
    """Writes to a file descriptor; the first failure (a reader that went away: EPIPE, a full disk
    behind ``> /dev/full``: ENOSPC, a closed descriptor: EBADF) is kept and later writes are dropped,
    so printing a report never fails the command whose work is already done."""

    def __init__(self, fd: int) -> None:
        super().__init__()
        self._fd = fd
        self.failure: OSError | None = None

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._fd

    def isatty(self) -> bool:
        try:
            return os.isatty(self._fd)
        except OSError:
            return False

    def write(self, data) -> int:
        n = len(memoryview(data).cast("B"))
        if self.failure is None:
            try:
                return os.write(self._fd, data)
            except OSError as exc:
                self.failure = exc
        return n


def _open_std_fds() -> None:
    """Give closed descriptors 0, 1 and 2 ``/dev/null``: otherwise the next file opened (an output
    temporary) would take the number, and anything written to "stdout" would land in it."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)


def _guarded(stream: TextIO | None, fd: int) -> TextIO:
    """A text stream on ``fd`` that never raises on write (see :class:`_QuietFd`), with ``stream``'s encoding."""
    encoding = getattr(stream, "encoding", None) or "utf-8"
    line_buffering = bool(getattr(stream, "line_buffering", False))
    buffered = io.BufferedWriter(_QuietFd(fd))
    return io.TextIOWrapper(
        buffered, encoding=encoding, errors="backslashreplace", line_buffering=line_buffering, write_through=True
    )


class guarded_streams:  # a plain class, not contextlib's decorator: --version does not import functools
    """For a command's own process: stdout and stderr that a closed descriptor, a closed pipe
    (``| head -1``) or a full device cannot break, and no "Exception ignored ... BrokenPipeError"
    at exit.  Streams already replaced (a test's capture, an embedding program) are left alone.
    Use as ``with guarded_streams(): ...``."""

    __slots__ = ("_saved",)

    def __init__(self) -> None:
        self._saved: tuple[TextIO | None, TextIO | None] | None = None

    def __enter__(self) -> None:
        if sys.stdout is not sys.__stdout__ or sys.stderr is not sys.__stderr__:
            return
        _open_std_fds()
        saved = self._saved = (sys.stdout, sys.stderr)
        try:
            for stream in saved:
                if stream is not None:
                    stream.flush()
        except Exception:
            pass
        sys.stdout, sys.stderr = _guarded(saved[0], 1), _guarded(saved[1], 2)

    def __exit__(self, *exc_info: object) -> None:
        saved = self._saved
        if saved is None:
            return
        for guarded in (sys.stdout, sys.stderr):
            try:
                guarded.flush()
            except Exception:
                pass
        # the originals hold nothing unwritten: the interpreter's flush at exit cannot fail; a stream
        # that was None (a descriptor closed at start) is now the guarded one on /dev/null
        sys.stdout = saved[0] if saved[0] is not None else sys.stdout
        sys.stderr = saved[1] if saved[1] is not None else sys.stderr
