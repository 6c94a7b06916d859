"""Test media made with real ffmpeg from lavfi sources: nothing is downloaded, nothing checked in.

A generator marked `@kept` makes each content once: the file is kept under var/test-media/<key>/ (or
$REPURPOSER_TEST_MEDIA; ignored by git, safe to delete) and later calls, in this run or the next, get a copy.
The key covers what decides the bytes: the generator's name and arguments (a file argument by its content),
the source of its module and of this one, KEPT_VERSION, and the versions of ffmpeg and espeak-ng.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import inspect
import json
import os
import pickle
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

KEPT_VERSION = "1"  # bump to make every kept file again
KEPT_DIR = Path(
    os.environ.get("REPURPOSER_TEST_MEDIA") or Path(__file__).resolve().parent.parent / "var" / "test-media"
)
KEPT_UNUSED_DAYS = 30  # an entry no run has used for this long is removed
_Made = TypeVar("_Made")


@functools.cache
def _tools_fingerprint() -> str:
    """The versions of the tools the generators run (`ffmpeg -version` names its libraries' versions too)."""
    out = []
    for argv in (["ffmpeg", "-version"], ["espeak-ng", "--version"]):
        try:
            out.append(subprocess.run(argv, capture_output=True, text=True, timeout=60).stdout)
        except FileNotFoundError:
            out.append(f"no {argv[0]}")
    return "\n".join(out)


@functools.cache
def _source_digest(module: str) -> str:
    return hashlib.sha256(inspect.getsource(sys.modules[module]).encode()).hexdigest()


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _token(value: Any) -> Any:
    """An argument as it goes into the key: a file by its content (not where it is), containers element-wise."""
    if isinstance(value, Path):
        return ("file", _file_digest(value)) if value.is_file() else ("path", str(value))
    if isinstance(value, list | tuple):
        return (type(value).__name__, *map(_token, value))
    if isinstance(value, dict):
        return ("dict", *sorted((k, _token(v)) for k, v in value.items()))
    return repr(value)


@functools.cache
def _prune_once() -> None:
    """Remove entries no run has used for KEPT_UNUSED_DAYS, and builds a crashed run left (older than a day)."""
    now = time.time()
    for entry in KEPT_DIR.iterdir():
        if not entry.name.startswith(".") and now - entry.stat().st_mtime > KEPT_UNUSED_DAYS * 86400:
            shutil.rmtree(entry, ignore_errors=True)
    for build in (KEPT_DIR / ".tmp").iterdir():
        if now - build.stat().st_mtime > 86400:
            shutil.rmtree(build, ignore_errors=True)


def _swap_path(value: Any, old: Path, new: Path) -> Any:
    """`value` with the path `old` in it (at any depth of tuples and lists) replaced by `new`."""
    if isinstance(value, Path):
        if value == old:
            return new
        if old.parent in value.parents:
            raise ValueError(f"a @kept generator returned {value}: only the file it is asked to make is kept")
        return value
    if isinstance(value, tuple | list):
        return type(value)(_swap_path(v, old, new) for v in value)
    return value


def kept(make: Callable[..., _Made]) -> Callable[..., _Made]:
    """Make the file `make(..., path=..., ...)` writes once per content and copy it to `path`, a fresh copy for
    each call (tests may change what they get). `make` must write `path` only (what else it leaves beside it is
    dropped) and return something picklable, `path` included."""
    signature = inspect.signature(make)

    @functools.wraps(make)
    def wrapper(*args: Any, **kwargs: Any) -> _Made:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        path = Path(bound.arguments["path"])
        arguments = {name: _token(value) for name, value in bound.arguments.items() if name != "path"}
        key = hashlib.sha256(
            repr(
                (
                    make.__module__,
                    make.__qualname__,
                    sorted(arguments.items()),
                    path.suffix,
                    _source_digest(make.__module__),
                    _source_digest(__name__),
                    KEPT_VERSION,
                    _tools_fingerprint(),
                )
            ).encode()
        ).hexdigest()[:32]
        entry = KEPT_DIR / key
        made = entry / f"media{path.suffix}"
        if not entry.is_dir():
            for folder in (".tmp", ".locks"):
                (KEPT_DIR / folder).mkdir(parents=True, exist_ok=True)
            _prune_once()
            # One maker per key at a time: other pytest workers wait here, then find it made. The entry appears
            # whole, by one rename, so a run that dies while making it leaves nothing half-made behind.
            with (KEPT_DIR / ".locks" / key).open("w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                if not entry.is_dir():
                    build = Path(tempfile.mkdtemp(prefix=f"{key}-", dir=KEPT_DIR / ".tmp"))
                    try:
                        bound.arguments["path"] = build / made.name
                        result = make(*bound.args, **bound.kwargs)
                        keep = build / "kept"
                        keep.mkdir()
                        (build / made.name).rename(keep / made.name)
                        (keep / "result.pickle").write_bytes(pickle.dumps(_swap_path(result, build / made.name, made)))
                        try:
                            keep.rename(entry)
                        except OSError:
                            if not entry.is_dir():  # not made meanwhile by another run: a real failure
                                raise
                    finally:
                        shutil.rmtree(build, ignore_errors=True)
        os.utime(entry)  # used: not pruned
        shutil.copyfile(made, path)
        return _swap_path(pickle.loads((entry / "result.pickle").read_bytes()), made, path)

    return wrapper


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True, timeout=300)


@kept
def h264_aac(path: Path, *, seconds: float = 25, size: str = "320x240", rate: int = 25, gop: int = 25) -> Path:
    """Browser-playable source (stream-copy path), a keyframe every `gop` frames, a tone for audio."""
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        f"testsrc2=size={size}:rate={rate}",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=330:sample_rate=44100",
        "-t",
        str(seconds),
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-g",
        str(gop),
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-b:a",
        "64k",
        "-shortest",
        str(path),
    )
    return path


@kept
def mpeg4_avi(path: Path, *, seconds: float = 25, size: str = "320x240", rate: int = 25) -> Path:
    """MPEG-4 Part 2 in AVI: browsers cannot play it, so the transcode path is taken."""
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        f"testsrc=size={size}:rate={rate}",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=44100",
        "-t",
        str(seconds),
        "-c:v",
        "mpeg4",
        "-q:v",
        "5",
        "-c:a",
        "libmp3lame",
        "-shortest",
        str(path),
    )
    return path


@kept
def video_only(path: Path, *, seconds: float = 12) -> Path:
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=25",
        "-t",
        str(seconds),
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        str(path),
    )
    return path


@kept
def audio_only(path: Path, *, seconds: float = 5) -> Path:
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440", "-t", str(seconds), "-c:a", "aac", str(path))
    return path


def duration(path: Path) -> float:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return float(out.stdout.strip())


def codecs(path: Path) -> list[str]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=codec_name", "-of", "json", str(path)],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return [s["codec_name"] for s in json.loads(out.stdout)["streams"]]


MARK_EVERY = 1.3  # seconds between markers: not a multiple of a frame, far from twice any audio delay we test


@kept
def marked(
    path: Path,
    *,
    seconds: float = 20,
    rate: str = "25",
    size: str = "320x180",
    codec: list[str] | None = None,
    audio: str | None = "aac",
    audio_rate: int = 48000,
    layout: str = "stereo",
    audio_delay: float = 0.0,
    audio_seconds: float | None = None,
    vfr: bool = False,
) -> Path:
    """A test video whose A/V sync can be measured: a white frame and a 10 ms 1 kHz beep every MARK_EVERY
    seconds (bench.avsync finds both), over moving test pictures and a quiet 200 Hz bed.

    `codec` is the video encoder's arguments (x264 with B-frames by default); `vfr` jitters the frame
    times; `audio_delay` starts the audio late (a non-zero start time); `audio_seconds` makes the audio
    longer or shorter than the video."""
    video = f"testsrc2=size={size}:rate={rate}"
    if vfr:
        # Frame times wander by up to ±12 ms around the nominal 1/30 s: a variable frame rate.
        video += ",setpts='(N/30+0.012*sin(N))/TB'"
    video += f",drawbox=w=iw:h=ih:color=white:t=fill:enable='lt(mod(t\\,{MARK_EVERY})\\,0.03)'"
    args = ["-t", str(seconds), "-f", "lavfi", "-i", video]
    maps = ["-map", "0:v"]
    if audio:
        beep = (
            f"aevalsrc='if(lt(mod(t\\,{MARK_EVERY})\\,0.01)\\,sin(2*PI*1000*t)\\,0.05*sin(2*PI*200*t))'"
            f":s={audio_rate}:c={layout}"
        )
        args += ["-itsoffset", str(audio_delay), "-t", str(audio_seconds or seconds), "-f", "lavfi", "-i", beep]
        maps += ["-map", "1:a"]
    codec = codec or [
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-pix_fmt",
        "yuv420p",
        "-x264-params",
        "bframes=3:b-pyramid=normal:keyint=250:scenecut=40",
    ]
    audio_args = {"aac": ["-c:a", "aac", "-b:a", "96k"], "mp3": ["-c:a", "libmp3lame"]}.get(audio or "", [])
    ffmpeg(*args, *maps, *codec, *(["-fps_mode", "passthrough"] if vfr else []), *audio_args, str(path))
    return path


@kept
def huge_png_mov(path: Path, *, side: int = 16000, declared: int | None = None) -> Path:
    """One side×side 16-bit RGB PNG frame in MOV: a few MB that decode to side²×6 bytes (1.5 GB at 16000).

    Made without ever holding the picture: ffmpeg would need 3.5 GB and 16 s to encode it. ffmpeg makes a
    16×16 one for the container, and the PNG is built here from one deflate segment repeated (a full flush
    makes each segment stand alone) and put in its place, with the sizes in the MOV headers patched (to
    `declared`, if given: a file whose header understates its picture).
    """
    small = path.with_name(path.stem + ".small.mov")
    ffmpeg(
        "-f", "lavfi", "-i", "color=c=red:s=16x16", "-frames:v", "1", "-pix_fmt", "rgb48be", "-c:v", "png", str(small)
    )
    mov = bytearray(small.read_bytes())
    small.unlink()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    rows = 100  # rows per deflate segment; `side` must be a multiple
    block = (b"\0" + b"\xff\xff\x00\x00\x00\x00" * side) * rows
    raw = zlib.compressobj(9, zlib.DEFLATED, -15)
    segment = raw.compress(block) + raw.flush(zlib.Z_FULL_FLUSH)
    adler = 1
    for _ in range(side // rows):
        adler = zlib.adler32(block, adler)
    idat = b"\x78\xda" + segment * (side // rows) + b"\x03\x00" + struct.pack(">I", adler)
    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 16, 2, 0, 0, 0))
        + chunk(b"IDAT", idat)
        + chunk(b"IEND", b"")
    )

    def atom(kind: bytes) -> int:
        """Offset of the first `kind` atom (the names are unique in this small file)."""
        return mov.index(kind) - 4

    # ffmpeg writes mdat (the one sample) before moov, so the sample's offset in stco stays right.
    mdat = atom(b"mdat")
    old = struct.unpack_from(">I", mov, mdat)[0]
    mov[mdat : mdat + old] = struct.pack(">I", 8 + len(png)) + b"mdat" + png
    struct.pack_into(">I", mov, atom(b"stsz") + 12, len(png))  # one sample: ffmpeg writes its size here
    tkhd = atom(b"tkhd")
    tkhd_end = tkhd + struct.unpack_from(">I", mov, tkhd)[0]
    declared = declared or side
    struct.pack_into(">II", mov, tkhd_end - 8, declared << 16, declared << 16)
    struct.pack_into(">HH", mov, atom(b"stsd") + 16 + 32, declared, declared)  # the sample entry's width, height
    path.write_bytes(mov)
    return path
