"""Join the finished segments into one MP4 a person can download (stream copy, moov atom first)."""

from __future__ import annotations

from pathlib import Path

from ..files import atomic_output
from ..process import CancelToken, ffmpeg_head, run
from .timeline import TS_OFFSET


def concat_segments(
    segments: list[Path],
    *,
    out: Path,
    ffmpeg_bin: str = "ffmpeg",
    timeout: float = 3600,
    cancel: CancelToken | None = None,
    start_time: float = 0.0,
) -> float:
    """Write `out` from `segments` in order; returns the seconds it took."""
    if not segments:
        raise ValueError("no segments to join")
    # The chunks share one timeline (render/timeline.py), so their bytes, one after another, are one
    # MPEG-TS stream: the concat *protocol* reads them so, where the concat demuxer would re-time each file
    # by its container duration (and so add a gap or an overlap at every join). Our own files only.
    # Timestamps go back to the source's own, less its start time (-copyts and the offset below), rather
    # than letting ffmpeg re-base on the earliest packet: a copied AAC track starts with its encoder
    # priming a frame before the video, and re-basing would push the video a frame late; kept as it is,
    # the MP4 muxer writes the edit list that tells players to skip the priming, as in the source.
    source = "concat:" + "|".join(str(p) for p in segments)
    with atomic_output(out) as tmp:
        argv = [
            *ffmpeg_head(ffmpeg_bin),
            "-protocol_whitelist",
            "concat,file",
            "-format_whitelist",
            "mpegts",
            "-copyts",
            "-f",
            "mpegts",
            "-i",
            source,
            "-output_ts_offset",
            f"{-(TS_OFFSET + start_time):.6f}",
            "-map",
            "0:v:0",
            "-map",
            "0:a:0?",
            "-c",
            "copy",
            "-movflags",
            "+faststart",
            "-f",
            "mp4",
            str(tmp),
        ]
        return run(argv, timeout=timeout, cancel=cancel, what="ffmpeg").seconds
