"""Find out what a file is before anything decodes it, and refuse what we will not process."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from .errors import DiskFull, MediaError
from .process import CancelToken, ProcessFailed, run

# Demuxers ffmpeg may open for user files. Anything that can point at other files or URLs (hls, concat,
# dash, image2 sequences, sdp, tee …) is left out, so a "video" cannot make ffmpeg read elsewhere.
ALLOWED_DEMUXERS = (
    "mov,mp4,m4a,3gp,3g2,mj2",
    "matroska,webm",
    "avi",
    "flv",
    "mpegts",
    "mpeg",
    "ogg",
    "asf",
    "mxf",
)
FORMAT_WHITELIST = ",".join(ALLOWED_DEMUXERS)
PROTOCOL_WHITELIST = "file,pipe"
# Video codecs every browser that plays HLS/MP4 can decode: these are stream-copied, the rest transcoded.
BROWSER_VIDEO_CODECS = {"h264"}
PROBESIZE = str(50 * 1024 * 1024)
ANALYZEDURATION = str(30 * 1_000_000)
# What one ffprobe may allocate (RLIMIT_DATA; its shared libraries do not count). Probing 4K H.264, HEVC,
# VP9 or ProRes needs about 60 MB; more means a picture far beyond the limits that the headers hid.
PROBE_MEMORY = 256 * 1024 * 1024


@dataclass(frozen=True)
class Limits:
    max_duration: float = 4 * 3600
    max_width: int = 4096
    max_height: int = 2304
    max_fps: float = 120
    max_streams: int = 16


@dataclass(frozen=True)
class MediaInfo:
    format_name: str
    duration: float
    start_time: float
    size: int
    video_codec: str
    width: int
    height: int
    fps: float
    pix_fmt: str
    audio_codec: str | None
    audio_channels: int
    stream_count: int
    # Where each stream starts, in seconds from the file's start (an audio track may start late), and the
    # audio's sample rate: the chunk timeline is built from these (render/timeline.py).
    video_start: float = 0.0
    audio_start: float = 0.0
    audio_rate: int = 0
    # The first audio track's language tag as the file states it (e.g. "eng"), or None ("und" or none).
    audio_language: str | None = None
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def has_audio(self) -> bool:
        return self.audio_codec is not None

    @property
    def audio_copyable(self) -> bool:
        """AAC in mono or stereo plays in every HLS/MP4 player as it is."""
        return self.audio_codec == "aac" and 0 < self.audio_channels <= 2

    @property
    def video_copyable(self) -> bool:
        """True when browsers can play the video stream as it is (so chunks can copy it bit for bit)."""
        return self.video_codec in BROWSER_VIDEO_CODECS and self.pix_fmt in ("yuv420p", "yuvj420p")


def input_options() -> dict[str, str]:
    """The options every ffmpeg/ffprobe read of a user file gets (ffmpeg-python keyword form)."""
    return {"format_whitelist": FORMAT_WHITELIST, "protocol_whitelist": PROTOCOL_WHITELIST}


def _fraction(text: str | None) -> float:
    try:
        value = Fraction(text or "0")
    except (ValueError, ZeroDivisionError):
        return 0.0
    return float(value) if value > 0 else 0.0


def clock(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def probe(
    path: Path,
    *,
    limits: Limits,
    ffprobe: str = "ffprobe",
    timeout: float = 30,
    cancel: CancelToken | None = None,
) -> MediaInfo:
    """Describe `path` with ffprobe and check it against `limits`. Raises MediaError with a user sentence.

    One ffprobe does it when the file is fine: the full pass (which fills in what headers leave out, such as
    the pixel format), and `check` refuses a picture larger than the limits from what it found. The full pass
    may decode a frame, and a 3 MB 16000×16000 16-bit PNG in MOV would take 1.5 GB to decode; it runs under
    a memory cap (PROBE_MEMORY), and that cap is what keeps it harmless on such a file, whatever its headers
    say: the decode fails for want of memory, or ffprobe stops. So it can safely go first.

    Only when the full pass fails (ffprobe exits with an error, overruns, or its JSON lacks what we need) or
    refuses the file does a header-only pass (`-nofind_stream_info`, which decodes nothing) run, to find the
    true reason: a picture larger than the limits is reported as such ("The video is 16000×16000; …")
    rather than as an unreadable file; otherwise the full pass's refusal stands. The header pass only
    explains a failure, it never lets a file through.
    """
    if not path.is_file() or path.stat().st_size == 0:
        raise MediaError("The file is empty. Please choose the video file again.", detail=f"size 0: {path}")
    analyse = ["-probesize", PROBESIZE, "-analyzeduration", ANALYZEDURATION]
    try:
        data = _ffprobe(path, analyse, ffprobe=ffprobe, timeout=timeout, cancel=cancel)
        return check(data, size=path.stat().st_size, limits=limits)
    except (PictureTooLarge, DiskFull):
        raise  # already the true reason (the disk is the server's problem, not the file's)
    except MediaError as failure:
        _explain(path, failure, limits=limits, ffprobe=ffprobe, timeout=timeout, cancel=cancel)
        raise


def _explain(
    path: Path, failure: MediaError, *, limits: Limits, ffprobe: str, timeout: float, cancel: CancelToken | None
) -> None:
    """After the full pass failed with `failure`: raise the picture-size refusal if the headers alone show a
    picture over the limits; return (so that `failure` stands) if they do not or cannot be read."""
    try:
        # It decodes nothing: a few seconds are plenty, and a refused file must not cost two full timeouts.
        header = _ffprobe(path, ["-nofind_stream_info"], ffprobe=ffprobe, timeout=min(timeout, 10), cancel=cancel)
    except MediaError:
        return
    video = _main_video(header.get("streams") or []) if isinstance(header, dict) else None
    if video is not None:
        _check_picture_size(video, limits, cause=failure)


def _ffprobe(path: Path, options: list[str], *, ffprobe: str, timeout: float, cancel: CancelToken | None) -> dict:
    argv = [
        ffprobe,
        "-v",
        "error",
        *options,
        "-format_whitelist",
        FORMAT_WHITELIST,
        "-protocol_whitelist",
        PROTOCOL_WHITELIST,
        "-show_format",
        "-show_streams",
        "-of",
        "json",
        # "file:" stops a name that looks like another protocol or option from being read as one.
        f"file:{path}",
    ]
    try:
        result = run(argv, timeout=timeout, cancel=cancel, what="ffprobe", memory_limit=PROBE_MEMORY)
    except ProcessFailed as exc:
        raise MediaError(
            "This file is not a video we can read. Upload a video file such as MP4, MOV, MKV or WebM.",
            detail=exc.detail,
        ) from None
    try:
        return json.loads(result.stdout or b"{}")
    except json.JSONDecodeError:
        raise MediaError("This file is not a video we can read.", detail="ffprobe printed invalid JSON") from None


def _main_video(streams: list[dict]) -> dict | None:
    """The first video stream that is not a cover picture."""
    videos = [
        s for s in streams if s.get("codec_type") == "video" and not (s.get("disposition") or {}).get("attached_pic")
    ]
    return videos[0] if videos else None


class PictureTooLarge(MediaError):
    """The picture is larger than the limits (a refusal, not a failure to read the file)."""


def _check_picture_size(video: dict, limits: Limits, *, cause: MediaError | None = None) -> None:
    try:
        width, height = int(video.get("width") or 0), int(video.get("height") or 0)
    except (TypeError, ValueError):
        return
    if width > limits.max_width or height > limits.max_height:
        detail = f"{width}x{height}" + (f" (the full probe failed: {cause.detail or cause.message})" if cause else "")
        raise PictureTooLarge(
            f"The video is {width}×{height}; the largest we process is {limits.max_width}×{limits.max_height}.",
            detail=detail,
        ) from None


def _language_tag(stream: dict | None) -> str | None:
    tag = str(((stream or {}).get("tags") or {}).get("language") or "").strip().lower()
    return tag if tag and tag not in ("und", "unk", "mul", "zxx") and len(tag) <= 8 else None


def check(data: dict, *, size: int, limits: Limits) -> MediaInfo:
    """Turn ffprobe's JSON into MediaInfo, or say in a sentence why the file is refused."""
    fmt = data.get("format") or {}
    streams = data.get("streams") or []
    format_name = fmt.get("format_name", "")
    if format_name not in ALLOWED_DEMUXERS:
        raise MediaError(
            "This file is not a video we can read. Upload a video file such as MP4, MOV, MKV or WebM.",
            detail=f"format {format_name!r} is not allowed",
        )
    if len(streams) > limits.max_streams:
        raise MediaError(
            f"The file has {len(streams)} streams; the limit is {limits.max_streams}.",
            detail=f"{len(streams)} streams",
        )
    video = _main_video(streams)
    audios = [s for s in streams if s.get("codec_type") == "audio"]
    if video is None:
        raise MediaError(
            "This file has no video track. Upload a video (audio-only files are not supported yet).",
            detail=f"streams: {[s.get('codec_type') for s in streams]}",
        )
    width, height = int(video.get("width") or 0), int(video.get("height") or 0)
    if width <= 0 or height <= 0:
        raise MediaError("The video track has no picture size; the file may be damaged.", detail=str(video))
    _check_picture_size(video, limits)
    fps = _fraction(video.get("avg_frame_rate")) or _fraction(video.get("r_frame_rate"))
    if fps > limits.max_fps:
        raise MediaError(f"The video runs at {fps:.0f} frames per second; the limit is {limits.max_fps:.0f}.")
    try:
        duration = float(fmt.get("duration") or video.get("duration") or 0)
    except ValueError:
        duration = 0.0
    if duration <= 0:
        raise MediaError(
            "We could not tell how long this video is; the file may be damaged or still being written.",
            detail=f"duration {fmt.get('duration')!r}",
        )
    if duration > limits.max_duration:
        raise MediaError(
            f"The video is {clock(duration)} long; the limit is {clock(limits.max_duration)}.",
            detail=f"duration {duration}",
        )
    try:
        start_time = float(fmt.get("start_time") or 0)
    except ValueError:
        start_time = 0.0
    audio = audios[0] if audios else None

    def starts_at(stream: dict | None) -> float:
        try:
            return max(0.0, float((stream or {}).get("start_time") or start_time) - start_time)
        except ValueError:
            return 0.0

    return MediaInfo(
        format_name=format_name,
        duration=duration,
        start_time=start_time,
        size=size,
        video_codec=video.get("codec_name", ""),
        width=width,
        height=height,
        fps=fps,
        pix_fmt=video.get("pix_fmt", ""),
        audio_codec=audio.get("codec_name") if audio else None,
        audio_channels=int(audio.get("channels") or 0) if audio else 0,
        stream_count=len(streams),
        video_start=starts_at(video),
        audio_start=starts_at(audio),
        audio_rate=int(audio.get("sample_rate") or 0) if audio else 0,
        audio_language=_language_tag(audio),
        extra={"bit_rate": fmt.get("bit_rate")},
    )
