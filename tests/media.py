"""Test media made with real ffmpeg from lavfi sources: nothing is downloaded, nothing checked in."""

from __future__ import annotations

import json
import struct
import subprocess
import zlib
from pathlib import Path


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True, timeout=300)


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
