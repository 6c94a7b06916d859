"""Downloading with yt-dlp's Python API from a loopback HTTP server (yt-dlp's generic extractor takes a
direct file URL): progress, the size limit, cancel, the proxy, and each failure's sentence."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from media_pipeline.errors import Cancelled, MediaError
from media_pipeline.ingest import youtube
from media_pipeline.ingest.youtube import DownloadProgress, download_video
from media_pipeline.ingest.youtube_url import PLAYLIST

from . import media
from .fake_youtube import Reply, VideoHost

GENERIC = ("generic",)

LIVE_HLS = (
    b"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:7\n" + b"#EXTINF:2.0,\nseg.ts\n" * 3
)
VOD_HLS = (
    b"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:30\n#EXT-X-PLAYLIST-TYPE:VOD\n"
    + b"#EXTINF:30.0,\nseg.ts\n" * 5
    + b"#EXT-X-ENDLIST\n"
)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> bytes:
    path = media.h264_aac(tmp_path_factory.mktemp("ytdlp") / "clip.mp4", seconds=4, size="320x240")
    return path.read_bytes()


@pytest.fixture
def host(clip):
    files = {
        "/clip.mp4": Reply(body=clip, content_type="video/mp4", chunk=16384, delay=0.002),
        "/stream.mp4": Reply(body=clip, content_type="video/mp4", chunk=16384, delay=0.002, length=False),
        "/slow.mp4": Reply(body=clip, content_type="video/mp4", chunk=8192, delay=0.02),
        "/busy.mp4": Reply(429, b"Too Many Requests"),
        "/forbidden.mp4": Reply(403, b"Forbidden"),
        "/live.m3u8": Reply(body=LIVE_HLS, content_type="application/vnd.apple.mpegurl"),
        "/talk.m3u8": Reply(body=VOD_HLS, content_type="application/vnd.apple.mpegurl"),
    }
    with VideoHost(files) as server:
        tracks = "".join(f"<track><location>{server.url}/clip.mp4</location></track>" for _ in range(2))
        server.files["/list.xspf"] = Reply(
            body=f'<?xml version="1.0"?><playlist version="1" xmlns="http://xspf.org/ns/0/"><trackList>{tracks}'
            "</trackList></playlist>".encode(),
            content_type="application/xspf+xml",
        )
        yield server


@pytest.fixture
def out(tmp_path) -> Path:
    folder = tmp_path / "task"
    folder.mkdir()
    return folder


def left_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_it_downloads_with_progress(host, clip, out):
    events: list[DownloadProgress] = []

    result = download_video(
        f"{host.url}/clip.mp4",
        out / "source.mp4",
        max_bytes=10_000_000,
        on_progress=events.append,
        extractors=GENERIC,
        progress_interval=0,
    )

    assert result.path == out / "source.mp4"
    assert result.path.read_bytes() == clip
    assert result.size == len(clip)
    assert result.info.title == "clip"
    assert media.codecs(result.path) == ["h264", "aac"]
    assert left_in(out) == ["source.mp4"]  # the work folder is gone

    running, last = events[:-1], events[-1]
    assert len(running) >= 3
    assert [e.downloaded_bytes for e in running] == sorted(e.downloaded_bytes for e in running)
    assert all(e.total_bytes == len(clip) and 0 < e.percent <= 100 for e in running)
    assert any(e.speed for e in running) and any(e.eta is not None for e in running)
    assert (last.finished, last.percent, last.downloaded_bytes) == (True, 100.0, len(clip))
    assert set(last.as_dict()) == {"downloaded_bytes", "total_bytes", "percent", "speed", "eta", "finished"}


def test_progress_is_throttled(host, out):
    events: list[DownloadProgress] = []

    download_video(
        f"{host.url}/clip.mp4",
        out / "v.mp4",
        max_bytes=10_000_000,
        on_progress=events.append,
        extractors=GENERIC,
        progress_interval=60,
    )

    # The first block is reported, then nothing until the end.
    assert [e.finished for e in events] == [False, True]


def test_an_announced_size_over_the_limit_stops_at_once(host, clip, out):
    events: list[DownloadProgress] = []

    with pytest.raises(MediaError) as caught:
        download_video(
            f"{host.url}/clip.mp4",
            out / "v.mp4",
            max_bytes=50_000,
            on_progress=events.append,
            extractors=GENERIC,
            progress_interval=0,
        )

    assert caught.value.message == (
        "The video is bigger than the 48.8 KB limit, so the download was stopped; upload a shorter or smaller "
        "file instead."
    )
    assert f"{len(clip)} expected" in caught.value.detail
    assert events == []  # stopped on the first block, before reporting anything
    assert left_in(out) == []  # partial file and work folder removed


def test_an_unannounced_size_is_stopped_mid_download(host, clip, out):
    events: list[DownloadProgress] = []

    with pytest.raises(MediaError) as caught:
        download_video(
            f"{host.url}/stream.mp4",  # no Content-Length: the size is only known by counting
            out / "v.mp4",
            max_bytes=100_000,
            on_progress=events.append,
            extractors=GENERIC,
            progress_interval=0,
        )

    assert caught.value.message.startswith("The video is bigger than the 97.7 KB limit, so the download was stopped")
    assert events and all(e.total_bytes is None and e.percent is None for e in events)
    assert max(e.downloaded_bytes for e in events) <= 100_000 < len(clip)
    assert left_in(out) == []


def test_cancel_stops_the_download_and_cleans_up(host, out):
    cancel = threading.Event()

    with pytest.raises(Cancelled):
        download_video(
            f"{host.url}/slow.mp4",
            out / "v.mp4",
            max_bytes=10_000_000,
            on_progress=lambda progress: cancel.set(),
            cancel=cancel,
            extractors=GENERIC,
            progress_interval=0,
        )

    assert left_in(out) == []


def test_it_goes_through_the_proxy(host, clip, out):
    # video.invalid cannot be resolved: this only works if yt-dlp sends every request to the proxy.
    result = download_video(
        "http://video.invalid/clip.mp4", out / "v.mp4", max_bytes=10_000_000, proxy=host.url, extractors=GENERIC
    )

    assert result.size == len(clip)
    assert host.seen and {s.proxied_host for s in host.seen} == {"video.invalid"}


def test_a_dead_proxy_is_named(out):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    with pytest.raises(MediaError) as caught:
        download_video(
            "http://video.invalid/clip.mp4",
            out / "v.mp4",
            max_bytes=10_000_000,
            proxy=f"http://127.0.0.1:{port}",
            extractors=GENERIC,
        )

    assert caught.value.message == youtube.PROXY_FAILED


def test_only_the_allowed_extractors_are_used(host, out):
    with pytest.raises(MediaError) as caught:
        download_video(f"{host.url}/clip.mp4", out / "v.mp4", max_bytes=10_000_000)

    assert caught.value.message == youtube.ONLY_YOUTUBE
    assert host.seen == []  # refused before any request
    assert left_in(out) == []


@pytest.mark.parametrize(
    ("path", "sentence"),
    [
        ("/busy.mp4", youtube.BLOCKED),
        ("/forbidden.mp4", youtube.BLOCKED),
        ("/gone.mp4", youtube.UNAVAILABLE),
        ("/live.m3u8", youtube.LIVE),
        ("/list.xspf", PLAYLIST),
    ],
)
def test_each_failure_becomes_its_sentence(host, out, path, sentence):
    with pytest.raises(MediaError) as caught:
        download_video(f"{host.url}{path}", out / "v.mp4", max_bytes=10_000_000, extractors=GENERIC)

    assert caught.value.message == sentence
    assert caught.value.detail
    assert left_in(out) == []


def test_blocked_through_a_proxy_suggests_another(host, out):
    with pytest.raises(MediaError) as caught:
        download_video("http://video.invalid/busy.mp4", out / "v.mp4", max_bytes=10, proxy=host.url, extractors=GENERIC)

    assert caught.value.message == youtube.BLOCKED_PROXY


def test_a_video_over_the_duration_limit_is_refused_before_downloading(host, out):
    with pytest.raises(MediaError) as caught:
        download_video(
            f"{host.url}/talk.m3u8", out / "v.mp4", max_bytes=10_000_000, max_duration=60, extractors=GENERIC
        )

    assert caught.value.message == "The video is 2:30 long; the limit is 1:00."
    assert [s.path for s in host.seen if s.path == "/seg.ts"] == []


def test_a_live_stream_is_refused_before_downloading(host, out):
    with pytest.raises(MediaError) as caught:
        download_video(f"{host.url}/live.m3u8", out / "v.mp4", max_bytes=10_000_000, extractors=GENERIC)

    assert caught.value.message == youtube.LIVE
