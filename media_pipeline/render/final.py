"""Join the finished segments into one MP4 a person can download (stream copy, moov atom first)."""

from __future__ import annotations

from pathlib import Path

import ffmpeg

from ..files import atomic_output
from ..process import CancelToken, run


def concat_segments(
    segments: list[Path],
    *,
    out: Path,
    ffmpeg_bin: str = "ffmpeg",
    timeout: float = 3600,
    cancel: CancelToken | None = None,
) -> float:
    """Write `out` from `segments` in order; returns the seconds it took. Segments must share one folder."""
    if not segments:
        raise ValueError("no segments to join")
    folder = segments[0].parent
    # Our own list of our own files: names only, so the concat demuxer's "safe" mode accepts them.
    listing = folder / ".concat.txt"
    listing.write_text("ffconcat version 1.0\n" + "".join(f"file '{p.name}'\n" for p in segments))
    try:
        with atomic_output(out) as tmp:
            argv = (
                ffmpeg.input(str(listing), f="concat", safe="1", protocol_whitelist="file,pipe")
                .output(str(tmp), c="copy", movflags="+faststart", f="mp4")
                .global_args("-nostdin", "-hide_banner", "-v", "error", "-y")
                .compile(cmd=ffmpeg_bin)
            )
            return run(argv, timeout=timeout, cancel=cancel, what="ffmpeg").seconds
    finally:
        listing.unlink(missing_ok=True)
