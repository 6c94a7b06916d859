"""One timeline for every chunk we write, so chunks join without a gap, an overlap or a drift.

Rules every chunk follows (the copy, transcode and commentary paths alike):

1. Timestamps are the source's own, plus `TS_OFFSET`: every MPEG-TS we write is muxed with `-copyts`,
   `-output_ts_offset TS_OFFSET` and `mpegts_copyts=1`, so no tool re-bases a chunk to zero and the
   chunks of one video simply follow each other. (The offset keeps the decode timestamps of B-frames,
   which start before 0, positive.)
2. Video: each chunk holds exactly the frames whose time is in [start, end) of its interval. A copied
   video is cut by one segment-muxer pass at keyframes (`split.py`); a transcoded one by `trim` on the
   same boundaries, so a frame on a boundary goes to exactly one side.
3. Audio we encode is cut on a grid of whole AAC frames (1024 samples) counted from the file's start.
   Interval boundaries move to the nearest grid point (at most half a frame, ~11 ms, from the video cut).
   Each chunk's audio is encoded from exactly its samples plus one frame more, then the encoder's
   priming frame and the extra frame are dropped (`adts_frames`): what is left starts and ends on the
   grid and decodes seamlessly after the previous chunk's last frame, because both were encoded from
   the same signal around the join.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import MediaError

TS_OFFSET = 10.0
# Every copied segment must decode on its own, so the H.264 parameter sets go before every keyframe, not
# only before IDR frames (an open-GOP keyframe is not one, and the Annex B conversion skips it).
PARAMETER_SETS = ["-bsf:v", "h264_mp4toannexb,dump_extra=freq=keyframe"]
AAC_FRAME = 1024
# Rates the AAC encoder and every browser take as they are; anything else is resampled to 48 kHz.
AAC_RATES = (44100, 48000)


def output_rate(source_rate: int) -> int:
    return source_rate if source_rate in AAC_RATES else 48000


def grid_sample(seconds: float, rate: int) -> int:
    """The sample index of the AAC frame boundary nearest to `seconds` (from the file's start)."""
    return round(seconds * rate / AAC_FRAME) * AAC_FRAME


def adts_frames(data: bytes) -> list[bytes]:
    """Split an ADTS stream (what ffmpeg's `-f adts` writes) into its frames.

    Each frame starts with a 7- or 9-byte header whose 13-bit length field counts the whole frame.
    """
    frames = []
    pos = 0
    while pos + 7 <= len(data):
        if data[pos] != 0xFF or data[pos + 1] & 0xF0 != 0xF0:
            raise MediaError("The audio could not be encoded.", detail=f"no ADTS sync word at byte {pos}")
        length = ((data[pos + 3] & 0x03) << 11) | (data[pos + 4] << 3) | (data[pos + 5] >> 5)
        if length < 7 or pos + length > len(data):
            raise MediaError("The audio could not be encoded.", detail=f"bad ADTS frame length {length} at {pos}")
        frames.append(data[pos : pos + length])
        pos += length
    return frames


def keep_frames(path: Path, *, count: int) -> None:
    """Rewrite the ADTS file at `path` to hold frames 1..count: the priming frame (0) and the frames
    encoded from the one-frame look-ahead past the chunk's end are dropped."""
    frames = adts_frames(path.read_bytes())
    if len(frames) < count + 1:
        raise MediaError(
            "The audio could not be encoded.", detail=f"encoder gave {len(frames)} AAC frames, {count + 1} needed"
        )
    path.write_bytes(b"".join(frames[1 : count + 1]))
