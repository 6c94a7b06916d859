"""Cut a stream-copyable video at its interval boundaries in one ffmpeg pass.

Separate `-ss/-t` stream-copy runs per chunk do not cut exactly: each run copies on to the packet that
crosses its end, so neighbouring chunks share a frame or two and the joined video repeats them. The
segment muxer reads the file once and starts each new segment at the first keyframe at or after the
boundary, so every packet lands in exactly one segment. (A 10-minute file splits into 20 segments in
about 0.3 s here: the pass is disk-bound, not a per-chunk cost.)

The pass writes into a private temporary folder; `Splitter.segment(i)` blocks until segment i is
complete (the muxer has moved on to segment i+1, or the run ended) and returns its path.
"""

from __future__ import annotations

import shutil
import threading
import uuid
from pathlib import Path

from ..errors import Cancelled, MediaError
from ..plan import Interval
from ..probe import MediaInfo, clock, input_options
from ..process import AnyOf, CancelToken, ffmpeg_head, run
from .timeline import PARAMETER_SETS, TS_OFFSET

# Boundaries are given to the muxer a hair early: a keyframe time printed to the microsecond can be a
# fraction of a microsecond later than the packet's real time, and the muxer cuts at the first keyframe at
# or after the time it is given. Keyframes are always more than this apart.
EARLY = 0.0005
SEGMENT_POLL = 0.01


def split_argv(
    src: Path,
    info: MediaInfo,
    cuts: list[float],
    folder: Path,
    *,
    with_audio: bool,
    ffmpeg_bin: str,
    start: float | None = None,
) -> list[str]:
    """The segment-muxer command that copies `src` into `folder`/00000.ts, 00001.ts …, cutting at the
    keyframes at `cuts` (seconds from the file's start); from the keyframe at `start` when given."""
    times = ",".join(f"{info.start_time + cut + TS_OFFSET - EARLY:.6f}" for cut in cuts)
    inputs = input_options()
    argv = [
        *ffmpeg_head(ffmpeg_bin),
        "-format_whitelist",
        inputs["format_whitelist"],
        "-protocol_whitelist",
        inputs["protocol_whitelist"],
        "-copyts",
        # A seek a hair past a keyframe lands on it (a copy seek goes to the keyframe at or before).
        *(["-ss", f"{start + 0.001:.6f}"] if start is not None else []),
        "-i",
        f"file:{src}",
        "-map",
        "0:v:0",
        *(["-map", "0:a:0"] if with_audio else []),
        "-c",
        "copy",
        *PARAMETER_SETS,
        "-output_ts_offset",
        f"{TS_OFFSET}",
        "-f",
        "segment",
        "-segment_format",
        "mpegts",
        "-segment_format_options",
        "mpegts_copyts=1",
        "-reset_timestamps",
        "0",
        "-segment_list",
        str(folder / "list.csv"),
        "-segment_list_type",
        "csv",
    ]
    # Without times the muxer would cut every 2 s (its default segment_time): one interval is one segment.
    argv += ["-segment_times", times] if times else ["-segment_time", "1000000000"]
    return [*argv, str(folder / "%05d.ts")]


class Splitter:
    """Runs the one-pass split in a thread; `segment(i)` waits for segment i."""

    def __init__(
        self,
        src: Path,
        info: MediaInfo,
        plan: list[Interval],
        *,
        workdir: Path,
        with_audio: bool,
        ffmpeg_bin: str,
        cancel: CancelToken,
        timeout: float,
    ) -> None:
        self.plan = plan
        self.with_audio = with_audio
        self.folder = workdir / "chunks" / f".split.{uuid.uuid4().hex[:8]}.tmp"
        self.folder.mkdir(parents=True, exist_ok=True)
        cuts = [iv.start for iv in plan[1:]]
        self._argv = split_argv(src, info, cuts, self.folder, with_audio=with_audio, ffmpeg_bin=ffmpeg_bin)
        self._stop = threading.Event()
        self._cancel, self._timeout = AnyOf(cancel, self._stop), timeout
        self._changed = threading.Condition()
        self._finished = False
        self._error: BaseException | None = None
        self.seconds = 0.0
        self._thread = threading.Thread(target=self._run, name="split", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self.seconds = run(self._argv, timeout=self._timeout, cancel=self._cancel, what="ffmpeg").seconds
        except BaseException as exc:  # noqa: BLE001 - handed to whoever waits for a segment
            self._error = exc
        finally:
            with self._changed:
                self._finished = True
                self._changed.notify_all()

    def _complete(self, index: int) -> bool:
        # The muxer closes segment i before it opens segment i+1, and the last one when it ends.
        if index + 1 < len(self.plan) and (self.folder / f"{index + 1:05d}.ts").exists():
            return True
        return self._finished and self._error is None and (self.folder / f"{index:05d}.ts").exists()

    def segment(self, index: int, *, cancel: CancelToken) -> Path:
        """The finished segment for interval `index`. Raises what stopped the pass, or MediaError when the
        file ended before this interval."""
        with self._changed:
            while not self._complete(index):
                if self._finished:
                    if self._error is not None:
                        raise self._error
                    iv = self.plan[index]
                    raise MediaError(
                        "The file ends early: its data stops before "
                        f"{clock(iv.start)}. It may have been cut off during upload; please upload it again.",
                        detail=f"split produced no segment {index}",
                    )
                if cancel.is_set():
                    raise Cancelled()
                # Woken when the pass ends; otherwise look again shortly (the muxer makes no other signal).
                # A look is two stat() calls, and the first chunk waits on it: look often.
                self._changed.wait(timeout=SEGMENT_POLL)
        return self.folder / f"{index:05d}.ts"

    def close(self) -> None:
        """Stop the pass if it still runs and remove the folder."""
        self._stop.set()
        self._thread.join(timeout=10)
        shutil.rmtree(self.folder, ignore_errors=True)
