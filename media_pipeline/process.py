"""Run ffmpeg/ffprobe safely: argv lists, own process group, a timeout, cancellation, stderr kept."""

from __future__ import annotations

import ctypes
import os
import resource
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from .errors import DISK_FULL_TEXTS, Cancelled, DiskFull, MediaError

STDERR_KEEP = 8000


class CancelToken(Protocol):
    def is_set(self) -> bool: ...


def ffmpeg_head(ffmpeg_bin: str) -> list[str]:
    """How every ffmpeg command line of ours starts: no stdin, errors only, overwrite our own temp outputs."""
    return [ffmpeg_bin, "-nostdin", "-hide_banner", "-v", "error", "-y"]


class NeverCancelled:
    def is_set(self) -> bool:
        return False


class Signal(threading.Event):
    """A flag that is also a cancel token, and wakes `wait_any` the moment it is set: the user's cancel, a
    run's own stop, a worker having finished. Waiting on signals needs no polling."""

    def __init__(self) -> None:
        super().__init__()
        self._waiters: set[threading.Condition] = set()
        self._waiters_lock = threading.Lock()

    def set(self) -> None:
        super().set()
        with self._waiters_lock:
            waiters = list(self._waiters)
        for cond in waiters:
            with cond:
                cond.notify_all()

    def _watch(self, cond: threading.Condition, on: bool) -> None:
        with self._waiters_lock:
            (self._waiters.add if on else self._waiters.discard)(cond)


class AnyOf:
    """A cancel token that is set when any of `tokens` is (the user's cancel, a sibling failing, …)."""

    def __init__(self, *tokens: CancelToken) -> None:
        self.tokens = tokens

    def is_set(self) -> bool:
        return any(token.is_set() for token in self.tokens)


# A token that is not a Signal cannot wake a waiter; wait_any looks at such tokens this often.
FOREIGN_TOKEN_POLL = 0.1


def _flatten(tokens: tuple[CancelToken, ...]) -> list[CancelToken]:
    flat: list[CancelToken] = []
    for token in tokens:
        flat.extend(_flatten(token.tokens) if isinstance(token, AnyOf) else [token])
    return flat


def wait_any(*tokens: CancelToken, timeout: float | None = None) -> bool:
    """Block until any of `tokens` is set (True) or `timeout` passes (False).

    Signals wake the wait when they are set; a check under the condition's lock before every wait means a
    signal set meanwhile is never missed. Other tokens are looked at every FOREIGN_TOKEN_POLL seconds.
    """
    flat = _flatten(tokens)
    signals = [t for t in flat if isinstance(t, Signal)]
    polled = len(signals) < len(flat)
    cond = threading.Condition()
    for sig in signals:
        sig._watch(cond, True)
    try:
        deadline = None if timeout is None else time.monotonic() + timeout
        with cond:
            while not any(t.is_set() for t in flat):
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                if polled:
                    left = FOREIGN_TOKEN_POLL if left is None else min(left, FOREIGN_TOKEN_POLL)
                cond.wait(left)
            return True
    finally:
        for sig in signals:
            sig._watch(cond, False)


@dataclass(frozen=True)
class RunResult:
    stdout: bytes
    stderr: str
    seconds: float


PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
DEATH_SIGNAL = int(signal.SIGKILL)  # the output is a temp file anyway; nothing to finish
# Looked up once here, so the child between fork and exec only calls it (no dlsym, no import).
_prctl = getattr(ctypes.CDLL(None, use_errno=True), "prctl", None)


def _child_setup(*, parent: int, memory_limit: int | None, nice: int = 0) -> Callable[[], None]:
    """What the child does between fork and exec: die with its parent, and stay under `memory_limit`.

    A worker killed with SIGKILL cannot stop its children, and ffmpeg in a session of its own would go on
    writing for minutes. PR_SET_PDEATHSIG has the kernel kill the child instead, on any host, with no
    list of process groups to keep. The kernel sends it when the *thread* that forked exits, not the
    process; that is safe here because that thread is blocked in `run` until the child has exited (the
    `finally` there kills it otherwise), so it only goes away early when the whole process dies. The
    setting survives exec. If the parent died before prctl took effect, getppid has changed: exit.

    `memory_limit` caps RLIMIT_DATA (heap and private writable mappings), which, unlike RLIMIT_AS, does
    not count the ~250 MB of shared libraries a Debian ffprobe maps. An allocation over it fails, and
    ffmpeg reports an error instead of taking the machine's memory.

    `nice` lowers the child's CPU priority (os.nice): work that nobody waits for yet (the publishing kit's
    frames of the whole video) then takes only what the urgent work (the first words, the first chunk) leaves.
    """

    def setup() -> None:
        if nice:
            os.nice(nice)
        if _prctl is not None:
            _prctl(PR_SET_PDEATHSIG, DEATH_SIGNAL, 0, 0, 0)
            if os.getppid() != parent:
                os._exit(1)
        if memory_limit is not None:
            resource.setrlimit(resource.RLIMIT_DATA, (memory_limit, memory_limit))

    return setup


# The `nice` of work that nobody waits for yet (see _child_setup).
BACKGROUND_NICE = 10


# util-linux's setpriv and prlimit and coreutils' nice (Essential packages on Debian): with them the child is
# set up by small programs it execs on its way to ffmpeg, not by Python code between fork and exec.
_SETPRIV = shutil.which("setpriv")
_PRLIMIT = shutil.which("prlimit")
_NICE = shutil.which("nice")


def _launcher(*, memory_limit: int | None, nice: int) -> list[str] | None:
    """The programs that give the child what `_child_setup` gives it (death with its parent, the memory cap,
    the lower priority), each exec'ing the next and the last one the command; None where one is missing.

    Why not `_child_setup`: a `preexec_fn` makes Python fork the whole worker (not vfork) and run Python in
    the child, whose reference counting then copies pages of the worker's heap before the exec. Measured
    here from a process holding 300 MB, per child: 13.8 ms of the parent's CPU and 16.5 ms of the child's
    with preexec_fn, 0.5 and 2.0 ms with vfork and setpriv; a 3 s job starts four such children.
    What is lost: the getppid check. If the worker dies in the ~1 ms before setpriv sets the death
    signal, that child is not killed with it (it ends with its input, writing only a temp file)."""
    if _SETPRIV is None or (memory_limit is not None and _PRLIMIT is None) or (nice and _NICE is None):
        return None
    argv = [_SETPRIV, f"--pdeathsig={signal.Signals(DEATH_SIGNAL).name[3:]}", "--"]
    if memory_limit is not None:
        argv += [str(_PRLIMIT), f"--data={memory_limit}", "--"]
    if nice:
        argv += [str(_NICE), "-n", str(nice), "--"]
    return argv


_found: dict[str, str] = {}


def _resolved(program: str) -> str | None:
    """`program` as a path (what the launcher would exec), or None when it is not installed. Only what was
    found is remembered, so a program installed later is seen at its next run."""
    if program not in _found:
        path = shutil.which(program)
        if path is None:
            return None
        _found[program] = path
    return _found[program]


TERM_GRACE = 1.0  # seconds a child has to exit after SIGTERM before SIGKILL


def _kill_group(proc: subprocess.Popen) -> None:
    """Stop the child and everything it started: TERM, a grace period, then KILL."""
    for sig, grace in ((signal.SIGTERM, TERM_GRACE), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


# The children `run` has started and not reaped yet, with the token that stops each.
_live: dict[int, tuple[subprocess.Popen, CancelToken]] = {}
_live_lock = threading.Lock()


def reap_cancelled(
    timeout: float = 10.0, poll: float = 0.05, *, owner: tuple[CancelToken, ...] | None = None, grace: float = 5.0
) -> int:
    """Wait until every child of ours whose cancel token is set has been killed and reaped by its `run`
    (within a poll and the kill's grace period); after `timeout`, kill and reap the rest here. A job calls
    this as it ends (its stop set), so no ffmpeg of its own outlives it, even one started by a thread it
    did not wait for. With `owner` (a job run's own tokens), only the children whose token is or includes
    one of them count: another job's cancelled ffmpeg in the same worker is that job's to reap. Returns how
    many had to be killed here."""
    deadline = time.monotonic() + timeout
    while True:
        with _live_lock:
            stopped = [
                proc
                for proc, token in _live.values()
                if proc.returncode is None and token.is_set() and (owner is None or _owned_by(token, owner))
            ]
        if not stopped:
            return 0
        if time.monotonic() >= deadline:
            # SIGKILL them all first, then wait for them together: not a grace period each, one after another.
            for proc in stopped:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            until = time.monotonic() + grace
            for proc in stopped:
                try:
                    proc.wait(timeout=max(0.0, until - time.monotonic()))
                except subprocess.TimeoutExpired:
                    pass
            return len(stopped)
        time.sleep(poll)


def _owned_by(token: CancelToken, owner: tuple[CancelToken, ...]) -> bool:
    return any(t is o for t in _flatten((token,)) for o in owner)


def run(
    argv: list[str],
    *,
    timeout: float,
    cancel: CancelToken | None = None,
    what: str = "ffmpeg",
    poll: float = 0.1,
    memory_limit: int | None = None,
    nice: int = 0,
) -> RunResult:
    """Run argv to completion. Raises Cancelled, or MediaError when it fails or overruns `timeout`.

    A failure because the disk is full raises DiskFull, not ProcessFailed, so it passes the callers that turn
    ProcessFailed into "your file may be damaged" and the user hears the truth.

    The child gets its own session (process group) so a cancel or timeout kills ffmpeg and anything it
    spawned, and stdin is /dev/null so it can never wait on a terminal. It dies with our process too,
    even one killed with SIGKILL (see `_child_setup`); `memory_limit` bytes cap what it may allocate;
    `nice` (0–19) lowers its CPU priority. The child is started with vfork and given those by the small
    programs of `_launcher`, or by `_child_setup` where they are missing.
    """
    cancel = cancel or NeverCancelled()
    if cancel.is_set():
        raise Cancelled()
    started = time.monotonic()
    not_installed = MediaError(f"{what} is not installed on the server.", detail=f"executable not found: {argv[0]}")
    launcher = _launcher(memory_limit=memory_limit, nice=nice)
    command, preexec = argv, None
    if launcher is not None:
        program = _resolved(argv[0])
        if program is None:
            raise not_installed
        command = [*launcher, program, *argv[1:]]
    else:
        preexec = _child_setup(parent=os.getpid(), memory_limit=memory_limit, nice=nice)
    try:
        proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=preexec,  # None: Python may use vfork
        )
    except FileNotFoundError:
        raise not_installed from None
    stdout_parts: list[bytes] = []
    stderr_parts: list[bytes] = []
    with _live_lock:
        _live[proc.pid] = (proc, cancel)
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
        with _live_lock:
            if _live.get(proc.pid, (None,))[0] is proc:  # a pid reused by a later child is that child's entry
                del _live[proc.pid]
    stderr = b"".join(stderr_parts).decode("utf-8", "replace")[-STDERR_KEEP:]
    seconds = time.monotonic() - started
    if proc.returncode != 0:
        if cancel.is_set():  # killed for the cancel elsewhere (reap_cancelled) before this loop saw it
            raise Cancelled()
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
