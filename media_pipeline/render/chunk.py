"""Cut one interval into an HLS segment (MPEG-TS) plus a JPEG thumbnail."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import ffmpeg

from ..errors import MediaError
from ..files import atomic_output
from ..plan import Interval
from ..probe import PROTOCOL_WHITELIST, MediaInfo, clock, input_options
from ..process import CancelToken, ProcessFailed, run
from .mix import CommentaryMix, commentary_audio, speech_input

AUDIO_BITRATE = "128k"
THUMB_WIDTH = 320
# A chunk may come out this much shorter than planned before we call the source cut off.
SHORT_CHUNK_TOLERANCE = 1.0


@dataclass(frozen=True)
class ChunkResult:
    index: int
    start: float
    end: float
    duration: float  # measured from the written segment
    copied: bool  # video stream copied bit for bit (True) or transcoded
    path: Path
    thumbnail: Path
    seconds: float  # wall time spent
    size: int


def _segment_duration(path: Path, *, ffprobe: str, cancel: CancelToken | None) -> float:
    argv = [
        ffprobe, "-v", "error", "-protocol_whitelist", PROTOCOL_WHITELIST, "-format_whitelist", "mpegts",
        "-show_entries", "format=duration", "-of", "json", f"file:{path}",
    ]  # fmt: skip
    out = run(argv, timeout=30, cancel=cancel, what="ffprobe")
    try:
        return float(json.loads(out.stdout)["format"]["duration"])
    except (KeyError, ValueError, TypeError):
        return 0.0


def chunk_timeout(info: MediaInfo, interval: Interval) -> float:
    """How long one segment may take: a copy is I/O only; a transcode scales with the pixels to encode
    (libx264 veryfast manages a few million pixels a second per core here)."""
    if copies_video(info, interval):
        return 120 + 2 * interval.duration
    pixel_rate = info.width * info.height * max(info.fps, 1)
    return 120 + interval.duration * max(10.0, pixel_rate / 3e6)


def copies_video(info: MediaInfo, interval: Interval) -> bool:
    """Copy the video bit for bit when browsers can play it and the segment starts on a keyframe."""
    return info.video_copyable and interval.starts_on_keyframe


def segment_argv(
    src: Path,
    info: MediaInfo,
    interval: Interval,
    out: Path,
    *,
    ffmpeg_bin: str,
    commentary: CommentaryMix | None = None,
) -> list[str]:
    """The ffmpeg command that writes one segment to `out`; with `commentary`, its audio is the original
    ducked under the spoken commentary (see media_pipeline.render.mix). Video is handled the same either way."""
    copy = copies_video(info, interval)
    # Seeking a hair past a keyframe still lands on it (a seek goes to the keyframe at or before) and
    # avoids rounding that could land on the keyframe before. Chunk 0 seeks too: with no -ss at all,
    # ffmpeg 5.1 took 1.6 s instead of 0.46 s for the same 19 s copy (measured here).
    nudge = 0.001 if copy else 0.0
    seek = interval.start + nudge
    # -t counts from the seek point: stop a hair before the next keyframe so it is not in both chunks.
    length = interval.duration - 2 * nudge
    stream = ffmpeg.input(f"file:{src}", ss=f"{seek:.3f}", **input_options())
    maps = [stream["v:0"]] + ([stream["a:0"]] if info.has_audio else [])
    if commentary is not None:
        # Match the chunks without commentary around it (copied AAC keeps its channels; a transcode is
        # stereo), so the HLS stream and the final MP4 keep one audio format from start to end.
        channels = info.audio_channels if info.has_audio and info.audio_copyable and copy else 2
        mixed = commentary_audio(
            stream["a:0"] if info.has_audio else None,
            speech_input(commentary)["a:0"],
            commentary,
            length=length,
            channels=channels,
        )
        maps = [stream["v:0"], mixed]
    video = {"vcodec": "copy"} if copy else {
        "vcodec": "libx264", "preset": "veryfast", "pix_fmt": "yuv420p", "crf": "23",
        # Even dimensions for yuv420p; keyframe at the start of every segment.
        "vf": "scale=trunc(iw/2)*2:trunc(ih/2)*2", "force_key_frames": "expr:eq(n,0)",
    }  # fmt: skip
    if commentary is not None:
        audio = {"acodec": "aac", "b:a": AUDIO_BITRATE}
    elif not info.has_audio:
        audio = {}
    elif info.audio_copyable and copy:
        audio = {"acodec": "copy"}  # cut on AAC frame boundaries (~21 ms), no encode at all
    else:
        audio = {"acodec": "aac", "b:a": AUDIO_BITRATE, "ac": "2"}
    out_stream = ffmpeg.output(
        *maps,
        str(out),
        t=f"{length:.3f}",
        f="mpegts",
        # Place the segment at its own time in the whole video, so HLS segments join without gaps.
        output_ts_offset=f"{seek:.3f}",
        **video,
        **audio,
    ).global_args("-nostdin", "-hide_banner", "-v", "error", "-y")
    return out_stream.compile(cmd=ffmpeg_bin)


def render_chunk(
    src: Path,
    info: MediaInfo,
    interval: Interval,
    *,
    out: Path,
    thumbnail: Path,
    ffmpeg_bin: str = "ffmpeg",
    ffprobe: str = "ffprobe",
    timeout: float | None = None,
    cancel: CancelToken | None = None,
    is_last: bool = False,
    commentary: CommentaryMix | None = None,
) -> ChunkResult:
    """Write `out` and `thumbnail` for `interval` (each via a temp name). Existing outputs are kept as they
    are, so a job re-delivered after a crash does not redo finished chunks. With `commentary` the speech is
    mixed over the original sound; the video is copied or transcoded exactly as without it."""
    copy = copies_video(info, interval)
    timeout = timeout or chunk_timeout(info, interval)
    seconds = 0.0
    if not out.exists():
        with atomic_output(out) as tmp:
            argv = segment_argv(src, info, interval, tmp, ffmpeg_bin=ffmpeg_bin, commentary=commentary)
            try:
                seconds += run(argv, timeout=timeout, cancel=cancel, what="ffmpeg").seconds
            except ProcessFailed as exc:
                raise MediaError(
                    f"We could not read the video between {clock(interval.start)} and {clock(interval.end)}; "
                    "the file may be damaged or cut off. Please upload it again.",
                    detail=exc.detail,
                ) from None
            measured = _segment_duration(tmp, ffprobe=ffprobe, cancel=cancel)
            _check_not_cut_off(interval, measured, is_last=is_last, total=info.duration)
    else:
        measured = _segment_duration(out, ffprobe=ffprobe, cancel=cancel)
    if not thumbnail.exists():
        with atomic_output(thumbnail) as tmp:
            thumb = (
                ffmpeg.input(f"file:{out}", protocol_whitelist=PROTOCOL_WHITELIST, format_whitelist="mpegts")
                .output(str(tmp), vframes=1, vf=f"scale={THUMB_WIDTH}:-2", **{"q:v": "4"})
                .global_args("-nostdin", "-hide_banner", "-v", "error", "-y")
                .compile(cmd=ffmpeg_bin)
            )
            seconds += run(thumb, timeout=60, cancel=cancel, what="ffmpeg").seconds
    return ChunkResult(
        index=interval.index,
        start=interval.start,
        end=interval.end,
        duration=measured,
        copied=copy,
        path=out,
        thumbnail=thumbnail,
        seconds=seconds,
        size=out.stat().st_size,
    )


def _check_not_cut_off(interval: Interval, measured: float, *, is_last: bool, total: float) -> None:
    """A truncated upload can still carry a header saying the full length: notice when the data runs out."""
    expected = interval.duration
    if measured >= expected - SHORT_CHUNK_TOLERANCE:
        return
    if is_last and measured > 0 and expected - measured < SHORT_CHUNK_TOLERANCE * 2:
        return
    reached = interval.start + max(measured, 0)
    raise MediaError(
        f"The file ends early: it says it is {clock(total)} long but its data stops at about {clock(reached)}. "
        "It may have been cut off during upload; please upload it again.",
        detail=f"chunk {interval.index}: expected {expected:.3f}s, got {measured:.3f}s",
    )
