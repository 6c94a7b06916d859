"""Chapter markers written into an MP4 (ffmpeg metadata, stream copy: no frame is re-encoded)."""

from __future__ import annotations

from pathlib import Path

from ..files import atomic_output
from ..process import CancelToken, ffmpeg_head, run
from .chapters import Chapter, to_ffmetadata


def with_chapters(
    src: Path,
    chapters: list[Chapter],
    *,
    out: Path,
    ffmpeg_bin: str = "ffmpeg",
    timeout: float = 600,
    cancel: CancelToken | None = None,
) -> float:
    """Write `out`: `src`'s streams copied, its chapters replaced by `chapters`, the moov atom first.
    Returns the seconds it took."""
    if not chapters:
        raise ValueError("no chapters to write")
    with atomic_output(out) as tmp:
        meta = tmp.with_name(tmp.name + ".ffmeta")
        meta.write_text(to_ffmetadata(chapters), encoding="utf-8")
        try:
            argv = [
                *ffmpeg_head(ffmpeg_bin),
                "-i",
                str(src),
                "-f",
                "ffmetadata",
                "-i",
                str(meta),
                "-map",
                "0",
                "-map_metadata",
                "0",
                "-map_chapters",
                "1",
                "-c",
                "copy",
                "-movflags",
                "+faststart",
                "-f",
                "mp4",
                str(tmp),
            ]
            return run(argv, timeout=timeout, cancel=cancel, what="ffmpeg").seconds
        finally:
            meta.unlink(missing_ok=True)
