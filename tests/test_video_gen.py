"""The Veo-shaped video-generation client against a loopback fake of its protocol: submit, growing polls,
streamed download with progress, failures, timeouts, 429s, a download cut off, cancel, the key kept secret."""

from __future__ import annotations

import threading

import pytest

from media_pipeline.errors import Cancelled
from media_pipeline.providers.http import CallRecord, ProviderError, RetryPolicy
from media_pipeline.providers.registry import Calls
from media_pipeline.video_gen import video_provider
from media_pipeline.video_gen.base import GenerationProgress

from .fake_veo import FakeVeo, sample_video


@pytest.fixture(scope="module")
def clip_bytes() -> bytes:
    return sample_video(seconds=2)


@pytest.fixture
def fake(clip_bytes):
    with FakeVeo(video=clip_bytes) as server:
        yield server


def generator(fake: FakeVeo, *, key: str | None = None, records: list | None = None, **conf):
    settings = {
        "VEO_BASE_URL": fake.base_url,
        "GEMINI_API_KEY": fake.api_key if key is None else key,
        "VEO_MODEL": "veo-test",
        "VIDEO_GEN_TIMEOUT": 20.0,
        "VIDEO_GEN_MAX_BYTES": 50 * 2**20,
        "PROVIDER_TIMEOUT": 10.0,
        **conf,
    }
    calls = Calls(
        retry=RetryPolicy(max_retries=2, base=0.05), on_call=(records.append if records is not None else None)
    )
    veo = video_provider("veo").build(settings, calls)
    veo.poll_first = 0.05  # the fake finishes in a fraction of a second
    return veo


def test_it_submits_polls_with_growing_intervals_and_downloads_a_checked_clip(fake, tmp_path, clip_bytes):
    fake.generation_seconds = 0.6
    records: list[CallRecord] = []
    progress: list[GenerationProgress] = []
    veo = generator(fake, records=records)
    clip = veo.generate(
        "A lighthouse at dusk", out=tmp_path / "clip.mp4", aspect="9:16", seconds=6, negative_prompt="people",
        on_progress=progress.append,
    )  # fmt: skip
    assert clip.path.read_bytes() == clip_bytes and clip.size == len(clip_bytes)
    assert clip.duration == pytest.approx(2, abs=0.1) and (clip.width, clip.height) == (640, 360)
    (op,) = fake.operations.values()
    assert op.prompt == "A lighthouse at dusk" and op.model == "veo-test"
    assert op.parameters == {"aspectRatio": "9:16", "durationSeconds": 6, "negativePrompt": "people"}
    assert clip.operation == f"models/veo-test/operations/{op.id}"
    # Polls grow (0.05, 0.075, 0.11, …) so a 0.6 s generation takes a handful, not dozens.
    assert 3 <= op.polls <= 8
    stages = [p.stage for p in progress]
    assert stages[0] == "submitted" and "generating" in stages and stages[-1] == "downloading"
    last = progress[-1].download
    assert last is not None and last.bytes == last.total == len(clip_bytes) and last.percent == 100
    operations = [r.operation for r in records]
    assert operations[0] == "video.submit" and operations[-1] == "video.download"
    assert operations.count("video.poll") == op.polls and all(r.ok for r in records)
    assert not list(tmp_path.glob(".*tmp*"))  # no temp file left beside it


def test_a_failed_operation_ends_with_the_services_reason(fake, tmp_path):
    fake.script("fail")
    with pytest.raises(ProviderError) as caught:
        generator(fake).generate("x", out=tmp_path / "clip.mp4")
    assert caught.value.message.endswith("could not make this video: The prompt was flagged by the safety filter.")
    assert not (tmp_path / "clip.mp4").exists()


def test_an_operation_done_without_a_video_says_so(fake, tmp_path):
    fake.script("empty")
    with pytest.raises(ProviderError, match="finished without a video"):
        generator(fake).generate("x", out=tmp_path / "clip.mp4")


def test_a_generation_that_never_finishes_times_out_with_a_sentence(fake, tmp_path):
    fake.script("never")
    veo = generator(fake, VIDEO_GEN_TIMEOUT=1.0)
    with pytest.raises(ProviderError) as caught:
        veo.generate("x", out=tmp_path / "clip.mp4")
    assert caught.value.kind == "timeout" and "did not finish the video within" in caught.value.message
    assert not (tmp_path / "clip.mp4").exists()


def test_a_429_is_retried_after_retry_after(fake, tmp_path):
    fake.script("429", "ok")
    records: list[CallRecord] = []
    clip = generator(fake, records=records).generate("x", out=tmp_path / "clip.mp4")
    assert clip.size > 0
    submits = [r for r in records if r.operation == "video.submit"]
    assert len(submits) == 1 and submits[0].retries == 1 and submits[0].duration_ms >= 900  # waited the 1 s


def test_a_download_cut_off_halfway_is_fetched_again(fake, tmp_path, clip_bytes):
    fake.script("cut")
    records: list[CallRecord] = []
    clip = generator(fake, records=records).generate("x", out=tmp_path / "clip.mp4")
    assert clip.path.read_bytes() == clip_bytes
    downloads = [r for r in records if r.operation == "video.download"]
    assert [(d.ok, d.error) for d in downloads] == [(False, "connection"), (True, "")]


def test_a_clip_over_the_size_limit_is_refused(fake, tmp_path):
    veo = generator(fake)
    veo.max_bytes = 1000
    with pytest.raises(ProviderError, match="larger than the limit"):
        veo.generate("x", out=tmp_path / "clip.mp4")
    assert not (tmp_path / "clip.mp4").exists()


def test_a_file_that_is_not_a_video_is_refused_after_the_probe(tmp_path, clip_bytes):
    with FakeVeo(video=b"\x00not a video at all" * 100) as fake:
        with pytest.raises(ProviderError, match="not a video we can use"):
            generator(fake).generate("x", out=tmp_path / "clip.mp4")


def test_cancel_stops_the_polling_at_once(fake, tmp_path):
    fake.script("never")
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    with pytest.raises(Cancelled):
        generator(fake).generate("x", out=tmp_path / "clip.mp4", cancel=cancel)


def test_a_refused_key_is_named_and_never_repeated(fake, tmp_path):
    with pytest.raises(ProviderError) as caught:
        generator(fake, key="sk-secret-value-123").generate("x", out=tmp_path / "clip.mp4")
    assert caught.value.kind == "auth" and "GEMINI_API_KEY" in caught.value.message
    assert "sk-secret-value-123" not in caught.value.message + caught.value.detail


def test_a_video_uri_on_another_host_is_not_sent_our_key(fake, tmp_path):
    veo = generator(fake)
    with pytest.raises(ProviderError, match="another host"):
        veo.download("http://127.0.0.2:9/v1beta/files/x:download", tmp_path / "x.mp4", report=lambda p: None)
