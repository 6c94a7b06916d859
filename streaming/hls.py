"""HLS EVENT playlists: segments are appended as chunks land; ENDLIST once the task has finished."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Segment:
    index: int
    duration: float
    url: str


def event_playlist(segments: list[Segment], *, target_duration: int, ended: bool) -> str:
    """An EVENT playlist for the contiguous run of segments from index 0.

    Segments must be listed in order with no gaps (a player never goes back for an earlier one), so a
    segment that arrives early waits until the ones before it are in.
    """
    by_index = {s.index: s for s in segments}
    ordered: list[Segment] = []
    while len(ordered) in by_index:
        ordered.append(by_index[len(ordered)])
    # The target duration comes from the plan (it must not change while the playlist grows); a segment
    # measured a hair longer than planned still fits, since the plan adds a second of room.
    longest = max([target_duration, *(math.ceil(s.duration) for s in ordered)]) if ordered else target_duration
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:3",
        "#EXT-X-PLAYLIST-TYPE:EVENT",
        f"#EXT-X-TARGETDURATION:{longest}",
        "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-INDEPENDENT-SEGMENTS",
        # Play from the first chunk, not near the live edge (Safari; hls.js is told the same in watch.js).
        "#EXT-X-START:TIME-OFFSET=0",
    ]
    for seg in ordered:
        lines.append(f"#EXTINF:{seg.duration:.3f},")
        lines.append(seg.url)
    if ended:
        lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"
