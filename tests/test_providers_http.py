"""The shared client for outside APIs, against loopback fakes that speak the real wire formats; and the
result cache."""

from __future__ import annotations

import email.utils
import logging
import os
import socket
import threading
import time
import uuid

import httpx
import pytest

from media_pipeline.errors import Cancelled
from media_pipeline.ideas.generate import cache_key
from media_pipeline.providers.cache import FileResultCache, RedisResultCache
from media_pipeline.providers.http import (
    CallRecord,
    ProviderClient,
    ProviderError,
    RetryPolicy,
    client_for,
    parse_retry_after,
)

from .fake_providers import FakeProviders, FakeProvidersProcess, garbage, slow, status

KEY = "sk-test-SECRET-0123456789abcdef"
BODY = {"model": "gpt-test", "messages": [{"role": "user", "content": "Say hi in JSON."}]}
FAST = RetryPolicy(base=0.01, cap=0.05)
REDIS_URL = "redis://127.0.0.1:6379/15"


@pytest.fixture
def fake():
    with FakeProviders(api_key=KEY) as fake:
        yield fake
    assert not fake.errors


@pytest.fixture
def records() -> list[CallRecord]:
    return []


def make_client(fake: FakeProviders, records: list[CallRecord], *, key: str = KEY, **options) -> ProviderClient:
    options.setdefault("retry", FAST)
    options.setdefault("on_call", records.append)
    return ProviderClient(
        name="openai",
        base_url=fake.openai_url,
        headers={"Authorization": f"Bearer {key}"},
        label="The language model service",
        key_setting="OPENAI_API_KEY",
        **options,
    )


def chat(client: ProviderClient, **options) -> httpx.Response:
    return client.request("POST", "chat/completions", operation="ideas", json=BODY, **options)


def test_it_retries_a_429_after_the_retry_after_the_server_asked_for(fake, records):
    fake.script("chat", status(429, retry_after=1))
    with make_client(fake, records) as client:
        response = chat(client)
    assert response.json()["choices"][0]["message"]["content"]
    first, second = fake.requests_to("chat")
    assert 1.0 <= second.start - first.start < 1.6
    (record,) = records
    assert (record.status, record.retries, record.ok, record.error) == (200, 1, True, "")
    assert record.duration_ms >= 1000


def test_it_cuts_a_long_retry_after_to_max_retry_after(fake, records):
    fake.script("chat", status(429, retry_after=120))
    with make_client(fake, records, retry=RetryPolicy(base=0.01, max_retry_after=0.2)) as client:
        chat(client)
    first, second = fake.requests_to("chat")
    assert 0.2 <= second.start - first.start < 0.8


def test_retry_after_may_be_seconds_or_an_http_date():
    now = time.time()
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("1.5") == 1.5
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after(email.utils.formatdate(now + 30, usegmt=True), now=now) == pytest.approx(30, abs=1)
    assert parse_retry_after(email.utils.formatdate(now - 30, usegmt=True), now=now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_it_retries_server_errors_then_succeeds(fake, records):
    fake.script("chat", status(500), status(503))
    with make_client(fake, records) as client:
        assert chat(client).status_code == 200
    assert [r.status for r in fake.requests_to("chat")] == [500, 503, 200]
    assert (records[0].status, records[0].retries, records[0].ok) == (200, 2, True)


def test_it_retries_a_timeout_then_succeeds(fake, records):
    fake.script("chat", slow(1.5))
    with make_client(fake, records, timeout=0.3) as client:
        started = time.monotonic()
        assert chat(client).status_code == 200
    assert time.monotonic() - started < 1.2  # it gave up on the slow answer instead of waiting for it
    assert len(fake.requests_to("chat")) == 2
    assert (records[0].retries, records[0].ok) == (1, True)


def test_a_timeout_that_does_not_recover_is_a_sentence(fake, records):
    fake.script("chat", slow(1), slow(1))
    with make_client(fake, records, timeout=0.25, retry=RetryPolicy(max_retries=1, base=0.01)) as client:
        with pytest.raises(ProviderError) as caught:
            chat(client)
    assert caught.value.message == "The language model service did not answer within 0.25 s (tried 2 times)."
    assert (caught.value.kind, caught.value.retryable) == ("timeout", True)
    assert (records[0].status, records[0].retries, records[0].ok, records[0].error) == (None, 1, False, "timeout")


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (400, "The language model service rejected our request (HTTP 400)."),
        (401, "The language model service refused our key (HTTP 401); check OPENAI_API_KEY."),
        (403, "The language model service refused our key (HTTP 403); check OPENAI_API_KEY."),
        (
            404,
            "The language model service does not know what we asked for (HTTP 404); "
            "check its address and model settings.",
        ),
        (422, "The language model service rejected our request (HTTP 422)."),
    ],
)
def test_it_does_not_retry_what_cannot_get_better(fake, records, code, message):
    fake.script("chat", status(code))
    with make_client(fake, records, retry=RetryPolicy(base=1.0)) as client:
        with pytest.raises(ProviderError) as caught:
            chat(client)
    assert len(fake.requests_to("chat")) == 1
    assert caught.value.message == message
    assert (caught.value.status, caught.value.retryable, caught.value.provider) == (code, False, "openai")
    assert f"HTTP {code}" in caught.value.detail
    assert (records[0].status, records[0].retries, records[0].ok) == (code, 0, False)


def test_a_429_that_does_not_recover_says_so(fake, records):
    fake.script("chat", *[status(429, retry_after=0.01)] * 4)
    with make_client(fake, records) as client:
        with pytest.raises(ProviderError) as caught:
            chat(client)
    assert caught.value.message == (
        "The language model service is out of quota or rate-limited (HTTP 429) and did not recover after 3 retries."
    )
    assert len(fake.requests_to("chat")) == 4
    assert (records[0].status, records[0].retries, records[0].error) == (429, 3, "rate_limited")


def test_an_answer_we_cannot_read_is_a_sentence_and_a_failed_call(fake, records):
    fake.script("chat", garbage())
    with make_client(fake, records) as client:
        with pytest.raises(ProviderError) as caught:
            client.fetch("POST", "chat/completions", operation="ideas", json=BODY, read=lambda r: r.json()["choices"])
    assert caught.value.message == "The language model service sent an answer we could not read."
    assert "Service temporarily unavailable" in caught.value.detail
    assert (records[0].status, records[0].ok, records[0].error) == (200, False, "unreadable")
    assert len(fake.requests_to("chat")) == 1


def test_an_unreachable_service_is_retried_then_a_sentence(records):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = ProviderClient(
        name="openai",
        base_url=f"http://127.0.0.1:{port}/v1",
        retry=RetryPolicy(max_retries=1, base=0.01),
        on_call=records.append,
        label="The language model service",
    )
    with client, pytest.raises(ProviderError) as caught:
        client.request("POST", "chat/completions", operation="ideas", json=BODY)
    assert caught.value.message == (
        "The language model service could not be reached at 127.0.0.1 and did not recover after 1 retry."
    )
    assert (records[0].status, records[0].retries, records[0].error) == (None, 1, "connection")


def test_the_key_never_appears_in_records_errors_or_logs(fake, records, caplog):
    """The fake echoes a refused key in full in its error body (worse than the real APIs do)."""
    caplog.set_level(logging.DEBUG)
    wrong = "sk-wrong-KEY-9876543210"
    fake.script("chat", status(500))
    with make_client(fake, records) as client:
        chat(client)
    with make_client(fake, records, key=wrong) as client, pytest.raises(ProviderError) as caught:
        chat(client)
    served = fake.requests_to("chat")[-1]
    assert served.headers["authorization"] == f"Bearer {wrong}"  # it did go out, in the header only
    error = caught.value
    everything = " ".join(
        [error.message, error.detail, str(error), repr(error), repr(records), caplog.text, str(error.__cause__)]
    )
    assert "Incorrect API key provided: [redacted]" in error.detail
    for secret in (KEY, wrong, "SECRET-0123456789", "KEY-9876543210"):
        assert secret not in everything
    assert len(records) == 2


def test_on_call_sees_each_request_once_with_its_path_without_query(fake, records):
    fake.defaults["elevenlabs"] = garbage()  # the body does not matter to a plain request()
    client = ProviderClient(name="elevenlabs", base_url=fake.url, headers={"xi-api-key": KEY}, on_call=records.append)
    with client:
        client.request(
            "POST",
            "v1/text-to-speech/voice123",
            operation="tts",
            params={"output_format": "mp3_44100_128"},
            json={"text": "hi", "model_id": "m"},
            tokens=7,
        )
    assert fake.requests_to("elevenlabs")[0].query == {"output_format": ["mp3_44100_128"]}
    (record,) = records
    assert record.path == "v1/text-to-speech/voice123"
    assert (record.provider, record.operation, record.method, record.tokens) == ("elevenlabs", "tts", "POST", 7)


def test_a_failing_on_call_does_not_break_the_call(fake):
    def broken(record: CallRecord) -> None:
        raise RuntimeError("metrics are down")

    with make_client(fake, [], on_call=broken) as client:
        assert chat(client).status_code == 200


def test_cancel_stops_a_backoff_at_once(fake, records):
    fake.script("chat", status(429, retry_after=30))
    cancel = threading.Event()
    threading.Timer(0.2, cancel.set).start()
    started = time.monotonic()
    with make_client(fake, records) as client, pytest.raises(Cancelled):
        chat(client, cancel=cancel)
    assert time.monotonic() - started < 1.0
    assert (records[0].error, records[0].ok, records[0].status) == ("cancelled", False, 429)


def test_client_for_keeps_one_client_per_key_across_threads(fake):
    made: list[ProviderClient] = []

    def factory() -> ProviderClient:
        time.sleep(0.05)  # widen the window a racy implementation would fall into
        made.append(make_client(fake, []))
        return made[-1]

    key = ("test", uuid.uuid4().hex)
    got: list[ProviderClient] = []
    threads = [threading.Thread(target=lambda: got.append(client_for(key, factory))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(made) == 1 and all(c is made[0] for c in got)
    view = made[0].bind(on_call=None)
    view.close()  # a view does not close the shared pool
    assert chat(made[0]).status_code == 200
    made[0].close()


def test_the_fake_also_runs_in_its_own_process(records):
    with FakeProvidersProcess(api_key=KEY) as remote:
        remote.script("chat", status(500))
        remote.configure(chat_reply='{"from": "another process"}', latency=0.05)
        client = ProviderClient(
            name="openai", base_url=remote.openai_url, headers={"Authorization": f"Bearer {KEY}"}, retry=FAST
        )
        with client:
            response = client.request("POST", "chat/completions", operation="ideas", json=BODY)
        assert response.json()["choices"][0]["message"]["content"] == '{"from": "another process"}'
        assert [r.status for r in remote.requests()] == [500, 200]
        assert remote.stats()["max_in_flight"] == 1


# --- result cache -----------------------------------------------------------------------------------


def test_cache_keys_are_unambiguous_and_stable():
    assert cache_key("ab", "c") != cache_key("a", "bc")
    assert cache_key("a", "b") == cache_key("a", "b")
    assert len(cache_key("x")) == 64 and int(cache_key("x"), 16) >= 0


def test_file_cache_returns_what_was_set_until_it_expires(tmp_path):
    cache = FileResultCache(tmp_path, ttl=60, max_bytes=10_000)
    assert cache.get("k") is None
    cache.set("k", '{"ideas": ["ünïcode"]}')
    assert cache.get("k") == '{"ideas": ["ünïcode"]}'
    (entry,) = tmp_path.glob("*.entry")
    old = time.time() - 120
    os.utime(entry, (old, old))
    assert cache.get("k") is None
    assert not entry.exists()


def test_file_cache_evicts_the_oldest_past_max_bytes(tmp_path):
    cache = FileResultCache(tmp_path, ttl=3600, max_bytes=250)
    for age, name in ((30, "a"), (20, "b")):
        cache.set(name, name * 100)
        path = next(p for p in tmp_path.glob("*.entry") if p.read_text() == name * 100)
        os.utime(path, (time.time() - age, time.time() - age))
    cache.set("c", "c" * 100)
    assert cache.get("a") is None
    assert cache.get("b") == "b" * 100 and cache.get("c") == "c" * 100
    assert not list(tmp_path.glob(".*.tmp"))


def redis_or_skip():
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError:
        pytest.skip("Redis is not reachable at 127.0.0.1:6379")


def test_redis_cache_keeps_max_entries_with_a_ttl():
    redis_or_skip()
    import redis

    prefix = f"rp:test:{uuid.uuid4().hex}:"
    cache = RedisResultCache(REDIS_URL, ttl=300, max_entries=2, prefix=prefix)
    raw = redis.Redis.from_url(REDIS_URL)
    try:
        for name in ("a", "b", "c"):
            cache.set(name, f"value {name}")
            time.sleep(0.002)
        assert cache.get("a") is None
        assert (cache.get("b"), cache.get("c")) == ("value b", "value c")
        assert 0 < raw.ttl(prefix + "c") <= 300
    finally:
        for key in raw.scan_iter(prefix + "*"):
            raw.delete(key)
        cache.close()


def test_a_cache_whose_redis_is_down_is_a_miss_not_a_failure():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    cache = RedisResultCache(f"redis://127.0.0.1:{port}/0", ttl=60, max_entries=10)
    cache.set("k", "v")
    assert cache.get("k") is None
