"""Run ffmpeg/ffprobe safely: argv lists, own process group, a timeout, cancellation, stderr kept."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from typing import Protocol

from .errors import DISK_FULL_TEXTS, Cancelled, DiskFull, MediaError

STDERR_KEEP = 8000


class CancelToken(Protocol):
    def is_set(self) -> bool: ...


class NeverCancelled:
    def is_set(self) -> bool:
        return False


@dataclass(frozen=True)
class RunResult:
    stdout: bytes
    stderr: str
    seconds: float


def _kill_group(proc: subprocess.Popen) -> None:
    """Stop the child and everything it started: TERM, a grace period, then KILL."""
    for sig, grace in ((signal.SIGTERM, 1.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def run(
    argv: list[str],
    *,
    timeout: float,
    cancel: CancelToken | None = None,
    what: str = "ffmpeg",
    poll: float = 0.1,
) -> RunResult:
    """Run argv to completion. Raises Cancelled, or MediaError when it fails or overruns `timeout`.

    A failure because the disk is full raises DiskFull, not ProcessFailed, so it passes the callers that turn
    ProcessFailed into "your file may be damaged" and the user hears the truth.

    The child gets its own session (process group) so a cancel or timeout kills ffmpeg and anything it
    spawned, and stdin is /dev/null so it can never wait on a terminal.
    """
    cancel = cancel or NeverCancelled()
    if cancel.is_set():
        raise Cancelled()
    started = time.monotonic()
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except FileNotFoundError:
        raise MediaError(f"{what} is not installed on the server.", detail=f"executable not found: {argv[0]}") from None
    stdout_parts: list[bytes] = []
    stderr_parts: list[bytes] = []
    try:
        while True:
            try:
                out, err = proc.communicate(timeout=poll)
                stdout_parts.append(out or b"")
                stderr_parts.append(err or b"")
                break
            except subprocess.TimeoutExpired:
                pass
            if cancel.is_set():
                _kill_group(proc)
                raise Cancelled()
            if time.monotonic() - started > timeout:
                _kill_group(proc)
                raise MediaError(
                    f"Processing took longer than {timeout:.0f} s and was stopped.",
                    detail=f"timeout running {what}: {argv!r}",
                )
    finally:
        if proc.poll() is None:
            _kill_group(proc)
    stderr = b"".join(stderr_parts).decode("utf-8", "replace")[-STDERR_KEEP:]
    seconds = time.monotonic() - started
    if proc.returncode != 0:
        if any(text in stderr for text in DISK_FULL_TEXTS):
            raise DiskFull(detail=f"{what} exited with {proc.returncode}: {stderr.strip()}")
        raise ProcessFailed(what, proc.returncode, stderr)
    return RunResult(stdout=b"".join(stdout_parts), stderr=stderr, seconds=seconds)


class ProcessFailed(MediaError):
    def __init__(self, what: str, returncode: int, stderr: str) -> None:
        super().__init__(
            f"{what} could not process this file.", detail=f"{what} exited with {returncode}: {stderr.strip()}"
        )
        self.returncode = returncode
        self.stderr = stderr
