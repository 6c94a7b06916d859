"""Cut one interval into an HLS segment (MPEG-TS) plus a JPEG thumbnail."""

from __future__ import annotations

import json
import os
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import ffmpeg

from ..errors import MediaError
from ..files import atomic_output, temp_folder
from ..plan import Interval
from ..probe import PROTOCOL_WHITELIST, MediaInfo, clock, input_options
from ..process import CancelToken, ProcessFailed, ffmpeg_head, run
from .mix import CommentaryMix, commentary_audio, speech_input
from .split import split_argv
from .timeline import AAC_FRAME, TS_OFFSET, grid_sample, keep_frames, output_rate
from .ts_span import ts_duration

AUDIO_BITRATE = "128k"
THUMB_WIDTH = 320
# A chunk may come out this much shorter than planned before we call the source cut off.
SHORT_CHUNK_TOLERANCE = 1.0


@dataclass(frozen=True)
class ChunkResult:
    index: int
    start: float
    end: float
    duration: float  # on the timeline: the playlist's EXTINF
    copied: bool  # video stream copied bit for bit (True) or transcoded
    path: Path
    thumbnail: Path | None
    seconds: float  # wall time spent
    size: int
    measured: float = 0.0  # the written segment's own container duration (for the cut-off check)


def _measure(path: Path, *, ffprobe: str, cancel: CancelToken | None) -> float:
    """A chunk's container duration (what ffprobe's format=duration says): read from its MPEG-TS timestamps
    in Python (render/ts_span.py, no ffprobe start), ffprobe only when they do not parse."""
    measured = ts_duration(path)
    return measured if measured is not None else _segment_duration(path, ffprobe=ffprobe, cancel=cancel)


def _segment_duration(path: Path, *, ffprobe: str, cancel: CancelToken | None) -> float:
    argv = [
        ffprobe,
        "-v",
        "error",
        "-protocol_whitelist",
        PROTOCOL_WHITELIST,
        "-format_whitelist",
        "mpegts",
        "-show_entries",
        "format=duration",
        "-of",
        "json",
        f"file:{path}",
    ]
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


def encodes_audio(info: MediaInfo, interval: Interval, commentary: CommentaryMix | None) -> bool:
    """Whether the chunk's audio is encoded by us (mixed or converted) rather than copied packet for packet."""
    if commentary is not None:
        return True
    return info.has_audio and not (info.audio_copyable and copies_video(info, interval))


def _out_args() -> list[str]:
    return ["-f", "mpegts", "-mpegts_copyts", "1"]


@dataclass(frozen=True)
class AudioSlice:
    """The AAC frames of one interval on the whole video's AAC grid (see render/timeline.py)."""

    rate: int
    first: int  # sample index (from the file's start) of the first sample
    count: int  # AAC frames
    channels: int

    @classmethod
    def of(cls, info: MediaInfo, interval: Interval, *, is_last: bool) -> AudioSlice:
        rate = output_rate(info.audio_rate) if info.has_audio else 48000
        first = grid_sample(interval.start, rate)
        last = grid_sample(info.duration if is_last else interval.end, rate)
        copy = copies_video(info, interval)
        channels = info.audio_channels if info.has_audio and info.audio_copyable and copy else 2
        return cls(rate=rate, first=first, count=max(1, (last - first) // AAC_FRAME), channels=channels)

    def offset(self, info: MediaInfo) -> float:
        """Where the slice starts in the source's timestamps."""
        return info.start_time + self.first / self.rate


def audio_slice_argv(
    src: Path, info: MediaInfo, piece: AudioSlice, out: Path, *, ffmpeg_bin: str, commentary: CommentaryMix | None
) -> list[str]:
    """ffmpeg command writing the slice's audio as ADTS to `out`: the original from exactly the slice's first
    sample (silence where the source has none), mixed with `commentary` when given, one AAC frame longer
    than the slice (the look-ahead `keep_frames` drops again)."""
    total = (piece.count + 1) * AAC_FRAME
    layout = "stereo" if piece.channels == 2 else "mono"
    original = None
    if info.has_audio:
        # -noaccurate_seek: start decoding at the packet before the seek point and let aresample trim to the
        # exact first sample (first_pts, on the source's own clock thanks to -copyts); it also fills a late
        # start or a gap with silence, and apad a track that ends early.
        seek = max(0.0, piece.first / piece.rate - 1.0)
        stream = ffmpeg.input(f"file:{src}", ss=f"{seek:.6f}", noaccurate_seek=None, **input_options())
        first_pts = round(info.start_time * piece.rate) + piece.first
        original = (
            stream["a:0"]
            .filter("aresample", piece.rate, **{"async": 1, "first_pts": first_pts})
            .filter("apad")
            .filter("atrim", end_sample=total)
            .filter("asetpts", "PTS-STARTPTS")
        )
    if commentary is not None:
        mixed = commentary_audio(
            original,
            speech_input(commentary)["a:0"],
            commentary,
            length=piece.count * AAC_FRAME / piece.rate,
            channels=piece.channels,
            sample_rate=piece.rate,
            tail=2 * AAC_FRAME / piece.rate,
        )
    else:
        mixed = original
    mixed = mixed.filter("aformat", sample_fmts="fltp", channel_layouts=layout, sample_rates=piece.rate)
    mixed = mixed.filter("apad").filter("atrim", end_sample=total)
    output = ffmpeg.output(
        mixed, str(out), acodec="aac", ac=piece.channels, ar=piece.rate, f="adts", **{"b:a": AUDIO_BITRATE}
    )
    return output.global_args("-nostdin", "-hide_banner", "-v", "error", "-y", "-copyts").compile(cmd=ffmpeg_bin)


def mux_argv(
    video_ts: Path, audio: Path | None, info: MediaInfo, piece: AudioSlice | None, out: Path, *, ffmpeg_bin: str
) -> list[str]:
    """Copied video (a split segment, timestamps already on our timeline) with our encoded audio."""
    argv = [
        *ffmpeg_head(ffmpeg_bin),
        "-copyts",
        "-protocol_whitelist",
        PROTOCOL_WHITELIST,
        "-format_whitelist",
        "mpegts",
        "-f",
        "mpegts",
        "-i",
        f"file:{video_ts}",
    ]
    maps = ["-map", "0:v:0"]
    if audio is not None and piece is not None:
        # The split segment already carries TS_OFFSET; the audio is placed on the same timeline.
        argv += _audio_input(audio, at=piece.offset(info) + TS_OFFSET)
        maps += ["-map", "1:a:0"]
    return [*argv, *maps, "-c", "copy", *_out_args(), str(out)]


def _audio_input(audio: Path, *, at: float) -> list[str]:
    """Our own ADTS file as the second input, its first frame at `at` (source timestamps)."""
    return ["-protocol_whitelist", PROTOCOL_WHITELIST, "-format_whitelist", "aac",
            "-itsoffset", f"{at:.6f}", "-f", "aac", "-i", f"file:{audio}"]  # fmt: skip


def transcode_argv(
    src: Path,
    info: MediaInfo,
    interval: Interval,
    audio: Path | None,
    piece: AudioSlice | None,
    out: Path,
    *,
    ffmpeg_bin: str,
    is_last: bool,
) -> list[str]:
    """Re-encoded video of exactly the frames in [start, end) (trim on the source's timestamps), with our audio.

    No B-frames: each chunk's decode timestamps then follow the previous chunk's, so the chunks join into
    one stream; a keyframe opens every chunk."""
    inputs = input_options()
    seek = interval.start - 2.0  # decode from a keyframe before the start; trim keeps exactly the interval
    argv = [
        *ffmpeg_head(ffmpeg_bin),
        "-copyts",
        "-format_whitelist",
        inputs["format_whitelist"],
        "-protocol_whitelist",
        inputs["protocol_whitelist"],
        "-noaccurate_seek",
        *(["-ss", f"{seek:.6f}"] if seek > 0 else []),
        "-i",
        f"file:{src}",
    ]
    maps = ["-map", "0:v:0"]
    if audio is not None and piece is not None:
        argv += _audio_input(audio, at=piece.offset(info))  # -output_ts_offset below adds TS_OFFSET to both
        maps += ["-map", "1:a:0"]
    start = info.start_time + interval.start
    trim = f"trim=start={start:.6f}" + ("" if is_last else f":end={info.start_time + interval.end:.6f}")
    video = [
        "-vf",
        f"{trim},scale=trunc(iw/2)*2:trunc(ih/2)*2",
        "-fps_mode",
        "passthrough",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-crf",
        "23",
        "-pix_fmt",
        "yuv420p",
        "-bf",
        "0",
        "-force_key_frames",
        "expr:eq(n,0)",
    ]
    audio_args = ["-c:a", "copy"] if audio is not None else []
    return [*argv, *maps, *video, *audio_args, "-output_ts_offset", f"{TS_OFFSET}", *_out_args(), str(out)]


def split_one(
    src: Path,
    info: MediaInfo,
    interval: Interval,
    folder: Path,
    *,
    with_audio: bool,
    ffmpeg_bin: str,
    cancel: CancelToken | None,
) -> Path:
    """The split segment of one interval on its own (for callers without a whole-file Splitter): from its
    keyframe to where the next interval starts."""
    folder.mkdir(parents=True, exist_ok=True)
    argv = split_argv(src, info, [interval.end], folder, with_audio=with_audio, ffmpeg_bin=ffmpeg_bin,
                      start=interval.start)  # fmt: skip
    run(argv, timeout=120 + 2 * interval.duration, cancel=cancel, what="ffmpeg")
    return folder / "00000.ts"


def render_chunk(
    src: Path,
    info: MediaInfo,
    interval: Interval,
    *,
    out: Path,
    thumbnail: Path | None,
    ffmpeg_bin: str = "ffmpeg",
    ffprobe: str = "ffprobe",
    timeout: float | None = None,
    cancel: CancelToken | None = None,
    is_last: bool = False,
    commentary: CommentaryMix | None = None,
    segment: Path | None = None,
) -> ChunkResult:
    """Write `out` and `thumbnail` for `interval` (each via a temp name). Existing outputs are kept as they
    are, so a job re-delivered after a crash does not redo finished chunks. With `commentary` the speech is
    mixed over the original sound; the video is copied or transcoded exactly as without it.

    `segment` is this interval's piece of a whole-file split (render/split.py) when the video is copied:
    with copied audio it becomes the chunk as it is; otherwise its video is muxed with our audio.
    """
    copy = copies_video(info, interval)
    timeout = timeout or chunk_timeout(info, interval)
    seconds = 0.0
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="thumb") as pool:
        thumb: Future[float] | None = None
        if copy and thumbnail is not None and not thumbnail.exists():
            # A copied chunk starts on the source's keyframe at its start, so the source gives the same first
            # picture; made beside the chunk, the thumbnail adds nothing to the time until the chunk is ready.
            thumb = pool.submit(_thumbnail, src, thumbnail, at=interval.start, ffmpeg_bin=ffmpeg_bin, cancel=cancel)
        if not out.exists():
            with atomic_output(out) as tmp, temp_folder(out.parent, "work") as work:
                try:
                    seconds += _write_chunk(
                        src,
                        info,
                        interval,
                        tmp,
                        work,
                        segment=segment,
                        copy=copy,
                        commentary=commentary,
                        is_last=is_last,
                        ffmpeg_bin=ffmpeg_bin,
                        timeout=timeout,
                        cancel=cancel,
                    )
                except ProcessFailed as exc:
                    raise MediaError(
                        f"We could not read the video between {clock(interval.start)} and {clock(interval.end)}; "
                        "the file may be damaged or cut off. Please upload it again.",
                        detail=exc.detail,
                    ) from None
                if segment is not None and not is_last:
                    # The split pass only starts the next segment once it reached this one's end: the data is
                    # all there, so the look at its timestamps is only needed for the last one.
                    measured = interval.duration
                else:
                    measured = _measure(tmp, ffprobe=ffprobe, cancel=cancel)
                    _check_not_cut_off(interval, measured, is_last=is_last, total=info.duration)
        else:
            measured = _measure(out, ffprobe=ffprobe, cancel=cancel)
        if thumb is not None:
            seconds += thumb.result()
        elif thumbnail is not None and not thumbnail.exists():
            seconds += _thumbnail(out, thumbnail, at=None, ffmpeg_bin=ffmpeg_bin, cancel=cancel)
    return ChunkResult(
        index=interval.index,
        start=interval.start,
        end=interval.end,
        # The playlist's EXTINF: the planned length, exact on the timeline, so the lengths add up to the
        # source's duration (a container's own duration of a TS segment counts audio overhang twice).
        duration=(info.duration - interval.start) if is_last else interval.duration,
        copied=copy,
        path=out,
        thumbnail=thumbnail,
        seconds=seconds,
        size=out.stat().st_size,
        measured=measured,
    )


def thumbnail_argv(src: Path, out: str, *, at: float | None, ffmpeg_bin: str) -> list[str]:
    """ffmpeg writing the JPEG of the first picture of `src` (a chunk), or of the source's picture `at`
    seconds from its start (ffmpeg's input seek adds the file's start time), to `out` ("pipe:1" for bytes)."""
    if at is None:
        source = ffmpeg.input(f"file:{src}", protocol_whitelist=PROTOCOL_WHITELIST, format_whitelist="mpegts")
    else:
        # A millisecond early, so that the keyframe printed to the microsecond is the picture taken.
        source = ffmpeg.input(f"file:{src}", ss=f"{max(0.0, at - 0.001):.6f}", **input_options())
    extra = {"f": "image2pipe", "c:v": "mjpeg"} if out.startswith("pipe:") else {}
    return (
        source.output(out, vframes=1, vf=f"scale={THUMB_WIDTH}:-2", **{"q:v": "4"}, **extra)
        .global_args("-nostdin", "-hide_banner", "-v", "error", "-y")
        .compile(cmd=ffmpeg_bin)
    )


def thumbnail_jpeg(
    src: Path, *, at: float | None, ffmpeg_bin: str = "ffmpeg", cancel: CancelToken | None = None
) -> bytes:
    """The chunk thumbnail's JPEG bytes (see `thumbnail_argv`), for the image pool to write."""
    data = run(thumbnail_argv(src, "pipe:1", at=at, ffmpeg_bin=ffmpeg_bin), timeout=60, cancel=cancel).stdout
    if not data:
        raise MediaError("We could not take a thumbnail from the video.", detail=f"no picture in {src} at {at}")
    return data


def _thumbnail(src: Path, thumbnail: Path, *, at: float | None, ffmpeg_bin: str, cancel: CancelToken | None) -> float:
    """Write the thumbnail JPEG (see `thumbnail_argv`) beside the chunk's own run; returns ffmpeg's seconds."""
    with atomic_output(thumbnail) as tmp:
        argv = thumbnail_argv(src, str(tmp), at=at, ffmpeg_bin=ffmpeg_bin)
        return run(argv, timeout=60, cancel=cancel, what="ffmpeg").seconds


def _write_chunk(
    src: Path,
    info: MediaInfo,
    interval: Interval,
    tmp: Path,
    work: Path,
    *,
    segment: Path | None,
    copy: bool,
    commentary: CommentaryMix | None,
    is_last: bool,
    ffmpeg_bin: str,
    timeout: float,
    cancel: CancelToken | None,
) -> float:
    """The steps of one chunk (see the module docstring of render/timeline.py); returns ffmpeg seconds."""
    seconds = 0.0
    encode = encodes_audio(info, interval, commentary)
    if copy and segment is None:
        segment = split_one(
            src,
            info,
            interval,
            work / "split",
            with_audio=info.has_audio and not encode,
            ffmpeg_bin=ffmpeg_bin,
            cancel=cancel,
        )
    audio, piece = None, None
    if encode:
        piece = AudioSlice.of(info, interval, is_last=is_last)
        audio = work / "audio.aac"
        argv = audio_slice_argv(src, info, piece, audio, ffmpeg_bin=ffmpeg_bin, commentary=commentary)
        seconds += run(argv, timeout=timeout, cancel=cancel, what="ffmpeg").seconds
        keep_frames(audio, count=piece.count)
    if copy:
        assert segment is not None  # split above when the caller had none
        if not encode:
            os.replace(segment, tmp)  # the split segment holds the copied audio too
            return seconds
        argv = mux_argv(segment, audio, info, piece, tmp, ffmpeg_bin=ffmpeg_bin)
    else:
        argv = transcode_argv(src, info, interval, audio, piece, tmp, ffmpeg_bin=ffmpeg_bin, is_last=is_last)
    return seconds + run(argv, timeout=timeout, cancel=cancel, what="ffmpeg").seconds


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
