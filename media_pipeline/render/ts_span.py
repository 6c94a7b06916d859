"""The duration of an MPEG-TS file we wrote, read in Python instead of asking ffprobe.

Each ffprobe start costs ~85 ms of CPU here (Debian's build links 215 libraries), and the cut-off check of a
chunk (`chunk._check_not_cut_off`) only needs `format=duration`. ffprobe computes that for MPEG-TS from the
timestamps: per stream, the largest PTS near the end of the file plus one frame, less the smallest PTS at its
start; the file's duration is the latest stream end less the earliest stream start. This does the same: it
reads the PAT and PMT and the first PES timestamps from the first HEAD_BYTES, the last ones from the last
TAIL_BYTES (more, doubling, while a stream has none there, up to TAIL_MAX as ffprobe does). A frame is one
AAC frame (1024 samples at the ADTS header's rate) for AAC, as ffprobe counts it, otherwise the typical
spacing of the stream's last timestamps. Anything that does not parse gives None (the caller asks ffprobe).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PACKET = 188
SYNC = 0x47
HEAD_BYTES = 256 * 1024
TAIL_BYTES = 256 * 1024
TAIL_MAX = 16 * 1024 * 1024  # as far from the end as ffprobe itself looks (250 kB << 6)
CLOCK = 90000
WRAP = 1 << 33
AAC_ADTS = 0x0F
AAC_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350)
SPACING_FROM = 16  # how many of a stream's last timestamps give its typical frame spacing


@dataclass
class _Stream:
    kind: int  # the PMT's stream_type
    frame: int | None = None  # one frame in 90 kHz ticks, when the codec says (AAC)


def ts_duration(path: Path) -> float | None:
    """Seconds from the earliest first PTS to the latest last PTS plus a frame, or None when `path` is not
    MPEG-TS with timestamps (see the module docstring)."""
    try:
        with path.open("rb") as f:
            size = f.seek(0, 2)
            f.seek(0)
            head = f.read(min(size, HEAD_BYTES))
            start = _sync_offset(head)
            if start is None:
                return None
            streams = _program(head, start)
            if not streams:
                return None
            first = _scan(head, start, streams)
            if not any(first.values()):
                return None
            last = first  # a file no larger than the head is all read
            length = TAIL_BYTES
            while size > len(head):
                offset = max(0, size - length)
                f.seek(offset)
                tail = f.read(size - offset)
                # Packets sit at `start` + k·188 from the file's start (a truncated file included).
                aligned = (start - offset) % PACKET
                last = _scan(tail, aligned, streams)
                if offset == 0 or length >= TAIL_MAX or all(last[pid] for pid, v in first.items() if v):
                    break
                length *= 2
    except OSError:
        return None
    ref = next(v[0] for v in first.values() if v)
    begin: int | None = None
    end: int | None = None
    for pid, stream in streams.items():
        head_pts = [_unwrap(p, ref) for p in first[pid]]
        tail_pts = [_unwrap(p, ref) for p in last[pid]] or head_pts
        if not tail_pts:
            continue
        if head_pts:  # a stream whose first PES comes later than the head starts later than those in it
            begin = min(head_pts) if begin is None else min(begin, min(head_pts))
        frame = stream.frame if stream.frame is not None else (_spacing(tail_pts) or _spacing(head_pts))
        stop = max(tail_pts) + frame
        end = stop if end is None else max(end, stop)
    if begin is None or end is None:
        return None
    return max(0, end - begin) / CLOCK


def _unwrap(pts: int, ref: int) -> int:
    """`pts` as the value nearest to `ref` on the unwrapped clock (the 33-bit PTS wraps every 26.5 hours)."""
    diff = (pts - ref) % WRAP
    return ref + (diff - WRAP if diff >= WRAP // 2 else diff)


def _spacing(values: list[int]) -> int:
    """The typical frame spacing of a stream's last timestamps (sorted: B-frames come out of order)."""
    ordered = sorted(set(values[-SPACING_FROM:]))
    steps = [b - a for a, b in zip(ordered, ordered[1:], strict=False) if b > a]
    return int(statistics.median(steps)) if steps else 0


def _sync_offset(data: bytes) -> int | None:
    """Where the first packet starts: a sync byte repeated every 188 bytes (in as many packets as there are,
    up to three)."""
    for pos in range(min(PACKET, len(data))):
        checks = range(pos, min(len(data), pos + 3 * PACKET), PACKET)
        if pos + PACKET <= len(data) and all(data[p] == SYNC for p in checks):
            return pos
    return None


def _packets(data: bytes, pos: int) -> Iterator[tuple[int, bool, bytes]]:
    """(pid, payload_unit_start, payload) of each whole packet from `pos`, finding the sync again after junk."""
    while pos + PACKET <= len(data):
        if data[pos] != SYNC:
            found = _sync_offset(data[pos : pos + 4 * PACKET])
            pos += PACKET if found is None else found
            continue
        b1, b3 = data[pos + 1], data[pos + 3]
        pid = ((b1 & 0x1F) << 8) | data[pos + 2]
        control = (b3 >> 4) & 3
        begin = pos + 4
        if control & 2:
            begin += 1 + data[pos + 4]
        if control & 1 and begin < pos + PACKET and not b1 & 0x80:  # payload present, no transport error
            yield pid, bool(b1 & 0x40), data[begin : pos + PACKET]
        pos += PACKET


def _program(data: bytes, start: int) -> dict[int, _Stream]:
    """The elementary streams (PID → stream) the first PAT and PMT in `data` list."""
    pmt_pids: set[int] = set()
    for pid, unit_start, payload in _packets(data, start):
        if not unit_start:
            continue
        table = _section(payload)
        if table is None:
            continue
        if pid == 0 and table[0] == 0x00:  # PAT: program_number, PID pairs after the 8-byte header
            for i in range(8, len(table) - 4 - 3, 4):
                if (table[i] << 8 | table[i + 1]) != 0:  # program 0 is the network PID
                    pmt_pids.add((table[i + 2] & 0x1F) << 8 | table[i + 3])
        elif pid in pmt_pids and table[0] == 0x02:  # PMT
            streams = {}
            i = 12 + ((table[10] & 0x0F) << 8 | table[11])
            while i + 5 <= len(table) - 4:
                es_pid = (table[i + 1] & 0x1F) << 8 | table[i + 2]
                streams[es_pid] = _Stream(kind=table[i])
                i += 5 + ((table[i + 3] & 0x0F) << 8 | table[i + 4])
            return streams
    return {}


def _section(payload: bytes) -> bytes | None:
    """The PSI section at the start of a packet's payload (after its pointer field), when whole in it."""
    if not payload:
        return None
    at = 1 + payload[0]
    if at + 3 > len(payload):
        return None
    length = (payload[at + 1] & 0x0F) << 8 | payload[at + 2]
    section = payload[at : at + 3 + length]
    return section if len(section) == 3 + length and length >= 9 else None


def _scan(data: bytes, start: int, streams: dict[int, _Stream]) -> dict[int, list[int]]:
    """The PTS of every PES that starts in `data`, per stream, in file order; an AAC stream's frame length
    from the first ADTS header seen."""
    found: dict[int, list[int]] = {pid: [] for pid in streams}
    for pid, unit_start, payload in _packets(data, start):
        stream = streams.get(pid)
        if stream is None or not unit_start or len(payload) < 14 or payload[:3] != b"\x00\x00\x01":
            continue
        if payload[6] & 0xC0 != 0x80 or not payload[7] & 0x80:  # no MPEG-2 PES header, or no PTS in it
            continue
        p = payload[9:14]
        if p[0] & 1 == 0 or p[2] & 1 == 0 or p[4] & 1 == 0:  # the marker bits: not a PTS
            continue
        found[pid].append((p[0] >> 1 & 0x07) << 30 | p[1] << 22 | (p[2] >> 1) << 15 | p[3] << 7 | p[4] >> 1)
        if stream.kind == AAC_ADTS and stream.frame is None:
            adts = payload[9 + payload[8] :]
            if len(adts) >= 3 and adts[0] == 0xFF and adts[1] & 0xF0 == 0xF0:
                index = (adts[2] >> 2) & 0x0F
                if index < len(AAC_RATES):
                    # ffprobe's frame length in ticks: 1024 samples, rounded down.
                    stream.frame = 1024 * CLOCK // AAC_RATES[index]
    return found
