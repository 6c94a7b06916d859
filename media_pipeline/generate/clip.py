"""One scene as one MPEG-TS clip: its title card with gentle motion, its narration, its captions burned in.

The clips of a video share one timeline (as the chunks of an upload do, see render/timeline.py): a scene's
clip carries timestamps from the scene's start plus TS_OFFSET, so the watch page's HLS playlist plays them
one after another and `render.final.concat_segments` joins their bytes into the final MP4 without re-encoding.
Every scene lasts a whole number of GRID steps (0.32 s: 8 frames at 25 fps and 15 AAC frames at 48 kHz), so
video and audio end together in every clip and nothing drifts across joins.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import MediaError
from ..files import atomic_output
from ..probe import FORMAT_WHITELIST, PROTOCOL_WHITELIST
from ..process import CancelToken, ProcessFailed, ffmpeg_head, run
from ..render.carousel import Slide, render_carousel
from ..render.fonts import Fonts
from ..render.reel import CAPTION_CENTRE, Caption, _border, _plan_captions, escape_filter_value
from ..render.timeline import AAC_FRAME, TS_OFFSET, keep_frames

FPS = 25
RATE = 48000
GRID = 0.32  # seconds: 8 video frames = 15 AAC frames
GRID_FRAMES = 8
GRID_AAC = 15
LEAD = 0.3  # silence before the voice in each scene
TAIL = 0.4  # and after it, so scenes breathe
# Rendered sizes: 720p-class keeps a scene's encode near real time on a busy 2-core box; the card is drawn
# 20 % larger so the pan and zoom never show its edge.
ASPECTS = {"9:16": (720, 1280), "16:9": (1280, 720), "1:1": (720, 720)}
CARD_SCALE = 1.2
CARD_TOP = 0.6  # of the height: where the headline and footer go
ZOOM = 0.08  # how far a scene zooms in (or pans across) over its length
AUDIO_BITRATE = "128k"


@dataclass(frozen=True)
class SceneTiming:
    index: int
    start: float  # seconds from the video's start
    duration: float  # a whole number of GRID steps
    speech: float  # seconds of narration in it (starts at LEAD)

    @property
    def frames(self) -> int:
        return round(self.duration * FPS)

    @property
    def aac_frames(self) -> int:
        return round(self.duration / GRID) * GRID_AAC


@dataclass(frozen=True)
class SceneClip:
    index: int
    path: Path
    start: float
    duration: float
    seconds: float  # wall time spent rendering
    size: int


def plan_timing(speech_seconds: Sequence[float]) -> list[SceneTiming]:
    """Scene starts and lengths from the narration's measured lengths: LEAD + speech + TAIL, rounded up to GRID."""
    timings = []
    start_steps = 0
    for index, speech in enumerate(speech_seconds):
        steps = max(1, math.ceil((LEAD + speech + TAIL) / GRID - 1e-9))
        timings.append(
            SceneTiming(index=index, start=round(start_steps * GRID, 6), duration=round(steps * GRID, 6), speech=speech)
        )
        start_steps += steps
    return timings


def render_card(
    headline: str,
    *,
    index: int,
    total: int,
    title: str,
    aspect: str,
    out_dir: Path,
    fonts: Fonts,
    theme: str = "dark",
) -> Path:
    """Scene `index`'s title card (PNG): the carousel renderer draws the number badge, the headline and the
    footer (the video's title, "2 / 5") in the upper CARD_TOP of the frame; the rest is left plain for the
    captions, which sit 70 % down, so the two never overlap. One card at a time, so the first scene does not
    wait for the others' cards."""
    from PIL import Image, ImageDraw, ImageFont

    from ..render.carousel import THEMES

    width, height = ASPECTS[aspect]
    size = (round(width * CARD_SCALE / 2) * 2, round(height * CARD_SCALE / 2) * 2)
    # The carousel sizes its margins and badge by the width: on a wide frame the slide is drawn narrower than
    # the card (at most 1.5 × its height) and centred, or the headline would have no room left.
    top_height = round(size[1] * CARD_TOP)
    top = (min(size[0], round(top_height * 1.5)), top_height)
    slide = Slide(number=index + 1, heading=headline, text="")
    work = out_dir / f"upper-{index:03d}"
    result = render_carousel(
        [slide], title=title, out_dir=work, fonts=fonts, size=top, theme=theme, brand=title, cover=False
    )
    colours = THEMES[theme]
    card = Image.new("RGB", size, colours["bg"])
    with Image.open(result.paths[0]) as drawn:
        left = (size[0] - top[0]) // 2
        card.paste(drawn, (left, 0))
    # The carousel numbers its own slides ("1 / 1"); the scene's position in the video replaces it.
    position = next((b for b in result.layouts[0].blocks if b.role == "footer" and b.lines == ["1 / 1"]), None)
    if position is not None:
        draw = ImageDraw.Draw(card)
        x0, y0, x1, y1 = position.drawn
        draw.rectangle((left + x0 - 2, y0 - 2, left + x1 + 2, y1 + 2), fill=colours["bg"])
        font = ImageFont.truetype(str(fonts.regular), position.size)
        right = left + position.box.right
        draw.text((right, y1), f"{index + 1} / {total}", font=font, fill=colours["muted"], anchor="rb")
    out = out_dir / f"card-{index:03d}.png"
    with atomic_output(out) as tmp:
        card.save(tmp, format="PNG", compress_level=1)  # read once by ffmpeg: fast beats small
    return out


def _motion(index: int, timing: SceneTiming, width: int, height: int) -> str:
    """zoompan: even scenes zoom in slowly on the centre, odd ones pan left to right at a slight zoom.

    The card is decoded once (one input frame) and zoompan makes all `frames` output frames from it
    (`d`), working in YUV 4:2:0 (converted once, before): re-decoding the PNG for every frame as a looped
    image input did, and scaling RGB, made a scene's render three to four times slower."""
    n = max(1, timing.frames - 1)
    if index % 2 == 0:
        zoom, x = f"1+{ZOOM}*on/{n}", "(iw-iw/zoom)/2"
    else:
        zoom, x = f"{1 + ZOOM}", f"(iw-iw/zoom)*on/{n}"
    return (
        f"format=yuv420p,zoompan=z='{zoom}':x='{x}':y='(ih-ih/zoom)/2':d={timing.frames}"
        f":s={width}x{height}:fps={FPS},trim=end_frame={timing.frames}"
    )


def _drawtext(caption_size: int, start: float, end: float, textfile: Path, font: Path, height: int) -> str:
    """The reel captions' look (white, black outline, soft shadow, centred 70 % down), one caption."""
    baseline = round(height * CAPTION_CENTRE + caption_size * 0.35)
    return "drawtext=" + ":".join(
        [
            f"fontfile={escape_filter_value(str(font))}",
            f"textfile={escape_filter_value(str(textfile))}",
            "expansion=none",
            f"fontsize={caption_size}",
            "fontcolor=white",
            f"borderw={_border(caption_size)}",
            "bordercolor=black",
            "shadowcolor=black@0.45",
            f"shadowx=0:shadowy={max(2, caption_size // 24)}",
            "x=(w-text_w)/2",
            f"y={baseline}-max_glyph_a",
            f"enable='gte(t,{start:.3f})*lt(t,{end:.3f})'",
        ]
    )


def _audio_argv(speech: Path, timing: SceneTiming, out: Path, *, ffmpeg_bin: str) -> list[str]:
    """The scene's narration as ADTS: LEAD of silence, the voice, silence to the scene's end, plus one AAC frame
    of look-ahead that `keep_frames` drops with the encoder's priming frame."""
    total = (timing.aac_frames + 1) * AAC_FRAME
    graph = (
        f"aresample={RATE},aformat=sample_fmts=fltp:channel_layouts=stereo,"
        f"adelay={round(LEAD * 1000)}:all=1,apad,atrim=end_sample={total}"
    )
    return [
        *ffmpeg_head(ffmpeg_bin),
        "-protocol_whitelist",
        PROTOCOL_WHITELIST,
        "-format_whitelist",
        "wav",
        "-i",
        f"file:{speech}",
        "-af",
        graph,
        "-c:a",
        "aac",
        "-b:a",
        AUDIO_BITRATE,
        "-ac",
        "2",
        "-ar",
        str(RATE),
        "-f",
        "adts",
        f"file:{out}",
    ]


def render_scene_clip(
    *,
    card: Path,
    speech: Path,
    timing: SceneTiming,
    captions: Sequence[Caption],
    aspect: str,
    out: Path,
    fonts: Fonts,
    ffmpeg_bin: str = "ffmpeg",
    cancel: CancelToken | None = None,
    background: Path | None = None,
    background_start: float | None = None,
) -> SceneClip:
    """Write `out` (MPEG-TS, atomically): the card in motion (or `background`, a generated clip, looped and
    cropped to fill the frame) for exactly `timing.frames` frames, the narration, and `captions` (clip seconds)
    burned in. H.264 without B-frames and a keyframe first, so the clip plays on its own and joins the next.

    With `background_start` the background is a video to cut from (a recap's source): its picture from that
    second on, without its sound, its last frame held should it end first."""
    width, height = ASPECTS[aspect]
    drawn = _plan_captions(captions, start=0.0, end=timing.duration, font_path=fonts.bold, width=width, height=height)
    timeout = 120 + timing.duration * 20
    with tempfile.TemporaryDirectory(prefix=".scene-", dir=_mkdir(out.parent)) as work_dir:
        work = Path(work_dir)
        audio = work / "audio.aac"
        try:
            run(_audio_argv(speech, timing, audio, ffmpeg_bin=ffmpeg_bin), timeout=timeout, cancel=cancel)
        except ProcessFailed as exc:
            raise MediaError("The narration of a scene could not be encoded.", detail=exc.detail) from None
        keep_frames(audio, count=timing.aac_frames)
        if background is not None and background_start is not None:
            chain = [
                "setpts=PTS-STARTPTS",
                f"scale={width}:{height}:force_original_aspect_ratio=increase,crop={width}:{height}",
                f"fps={FPS}",
                "setsar=1",
                f"tpad=stop_mode=clone:stop_duration={timing.duration:.3f}",
                f"trim=end_frame={timing.frames}",
            ]
            visual = ["-ss", f"{background_start:.3f}", "-t", f"{timing.duration + 1:.3f}", "-an", "-sn", "-dn",
                      "-i", f"file:{background}"]  # fmt: skip
        elif background is not None:
            chain = [
                f"scale={width}:{height}:force_original_aspect_ratio=increase,crop={width}:{height}",
                f"fps={FPS}",
                "setsar=1",
                f"trim=end_frame={timing.frames}",
            ]
            visual = ["-stream_loop", "-1", "-t", f"{timing.duration:.6f}", "-i", f"file:{background}"]
        else:
            chain = [_motion(timing.index, timing, width, height)]
            # One frame in; zoompan makes exactly `frames` frames of it, and so the clip ends with its audio.
            visual = ["-framerate", str(FPS), "-f", "image2", "-i", f"file:{card}"]
        for i, caption in enumerate(drawn):
            textfile = work / f"caption-{i:04d}.txt"
            textfile.write_text(caption.text, encoding="utf-8")  # no trailing newline: it would draw as a line
            chain.append(_drawtext(caption.size, caption.start, caption.end, textfile, fonts.bold, height))
        chain.append("format=yuv420p")
        with atomic_output(out) as tmp:
            argv = [
                *ffmpeg_head(ffmpeg_bin),
                "-protocol_whitelist",
                PROTOCOL_WHITELIST,
                "-format_whitelist",
                f"image2,png_pipe,aac,{FORMAT_WHITELIST}",
                *visual,
                "-f",
                "aac",
                "-i",
                f"file:{audio}",
                "-filter_complex",
                "[0:v]" + ",".join(chain) + "[v]",
                "-map",
                "[v]",
                "-map",
                "1:a:0",
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
                "-g",
                str(timing.frames),
                "-force_key_frames",
                "expr:eq(n,0)",
                "-c:a",
                "copy",
                "-output_ts_offset",
                f"{TS_OFFSET + timing.start:.6f}",
                "-f",
                "mpegts",
                "-mpegts_copyts",
                "1",
                str(tmp),
            ]
            try:
                seconds = run(argv, timeout=timeout, cancel=cancel, what="ffmpeg").seconds
            except ProcessFailed as exc:
                raise MediaError(f"Scene {timing.index + 1} could not be rendered.", detail=exc.detail) from None
    return SceneClip(
        index=timing.index,
        path=out,
        start=timing.start,
        duration=timing.duration,
        seconds=seconds,
        size=out.stat().st_size,
    )


def write_thumbnail(card: Path, out: Path, *, width: int = 320) -> Path:
    """A small JPEG of the card for the watch page's scene strip."""
    from PIL import Image

    with Image.open(card) as image:
        height = round(image.height * width / image.width)
        small = image.convert("RGB").resize((width, height))
        with atomic_output(out) as tmp:
            small.save(tmp, format="JPEG", quality=82)
    return out


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
