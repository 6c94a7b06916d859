"""YouTube captions through youtube-transcript-api, against a loopback fake YouTube that replays the
responses the library records for its own tests (see tests/fake_youtube.py). The app is pointed at it with
`base_url` only; nothing in the library is patched."""

from __future__ import annotations

import json
import socket

import pytest
import youtube_transcript_api as yta

from media_pipeline.errors import MediaError
from media_pipeline.ingest import youtube
from media_pipeline.ingest.youtube import CaptionsUnavailable, fetch_captions

from .fake_youtube import (
    CONSENT_VALUE,
    GREAT_WAR,
    SURFACE_GO,
    FakeYouTube,
    asset,
    player_with_status,
    player_with_tracks,
)

VIDEO = "AbCdEfGhIj0"  # a video id the fake answers for with whichever player response a test sets


@pytest.fixture
def fake():
    with FakeYouTube() as server:
        yield server


def captions(fake: FakeYouTube, video_id: str = VIDEO, **kwargs):
    return fetch_captions(video_id, base_url=fake.url, **kwargs)


def caption_request(fake: FakeYouTube) -> dict[str, str]:
    (seen,) = fake.requests_to("/api/timedtext")
    return {name: values[0] for name, values in seen.query.items()}


# ── Priority order ──────────────────────────────────────────────────────────────────────────────────────


def test_it_prefers_manual_english(fake):
    transcript = captions(fake, SURFACE_GO)

    assert transcript.source == "youtube:manual"
    assert transcript.language == "en"
    assert [(s.start, s.end, s.text) for s in transcript.segments] == [
        (0.0, 1.54, "Hey, this is just a test"),
        (1.54, 5.7, "this is not the original transcript"),  # <i> removed
        (5.7, 8.939, "just something shorter, I made up for testing"),  # the empty line is gone
    ]
    assert transcript.notes == ["Captions from YouTube: English, written by a person."]
    query = caption_request(fake)
    assert (query["v"], query["lang"], "kind" in query, "tlang" in query) == (SURFACE_GO, "en", False, False)


def test_it_speaks_to_youtube_as_the_library_does(fake):
    captions(fake, SURFACE_GO)

    assert [(s.method, s.path) for s in fake.seen] == [
        ("GET", "/watch"),
        ("POST", "/youtubei/v1/player"),  # with the key from the watch page, or the fake answers 403
        ("GET", "/api/timedtext"),
    ]
    assert fake.seen[0].query["v"] == [SURFACE_GO]
    assert json.loads(fake.seen[1].body)["videoId"] == SURFACE_GO


def test_it_takes_auto_generated_english_when_no_one_wrote_english(fake):
    fake.players[VIDEO] = player_with_tracks([("de", "manual"), ("en", "asr")])

    transcript = captions(fake)

    assert transcript.source == "youtube:auto"
    assert transcript.language == "en"
    # Auto-generated lines overlap the next one; each segment ends where the next begins.
    assert [(s.start, s.end, s.text) for s in transcript.segments] == [
        (0.08, 2.5, "so today we are looking at"),
        (2.5, 4.9, "the new surface go and"),
        (4.9, 7.9, "it's awesome"),
    ]
    assert transcript.notes == [
        "Captions from YouTube: English (auto-generated), so names and punctuation may be wrong."
    ]
    query = caption_request(fake)
    assert (query["lang"], query["kind"]) == ("en", "asr")


def test_it_translates_a_manual_track_when_there_is_no_english(fake):
    # German is what is spoken (YouTube's speech recognition says so), so the German track is translated
    # rather than the Japanese one listed first.
    fake.players[VIDEO] = player_with_tracks([("ja", "manual"), ("de", "manual"), ("de", "asr")])

    transcript = captions(fake)

    assert transcript.source == "youtube:translated"
    assert transcript.language == "en"
    assert [s.text for s in transcript.segments] == ["Hello, this is only a test", "and not the original"]
    assert transcript.notes == [
        "Captions from YouTube: translated to English by YouTube from the German (de) captions."
    ]
    query = caption_request(fake)
    assert (query["lang"], query["tlang"], "kind" in query) == ("de", "en", False)


def test_it_translates_the_first_manual_track_when_nothing_says_what_is_spoken(fake):
    fake.players[VIDEO] = player_with_tracks([("ja", "manual"), ("de", "manual")])

    transcript = captions(fake)

    assert transcript.source == "youtube:translated"
    assert [s.text for s in transcript.segments] == ["ja manual to en one", "ja manual to en two"]


def test_it_takes_any_track_and_notes_its_language_when_nothing_translates(fake):
    fake.players[VIDEO] = player_with_tracks([("de", "asr"), ("es", "manual")], translatable=False)

    transcript = captions(fake)

    assert transcript.source == "youtube:other"
    assert transcript.language == "es"  # a person's Spanish before a machine's German
    assert [s.text for s in transcript.segments] == ["es manual one", "es manual two"]
    assert transcript.notes == ["No English captions on YouTube; these are the Spanish (es) captions, not translated."]


def test_it_skips_a_track_youtube_withholds(fake):
    # Recorded: the manual English track needs a PO token ("&exp=xpe"); the auto-generated one does not.
    fake.players[VIDEO] = asset("youtube_po_token_required.innertube.json.static")

    transcript = captions(fake)

    assert transcript.source == "youtube:auto"
    assert transcript.notes[0] == "YouTube withheld the English (en) captions."


def test_it_skips_an_empty_track(fake):
    fake.tracks[("en", "", "")] = '<?xml version="1.0" encoding="utf-8" ?><transcript></transcript>'

    transcript = captions(fake, SURFACE_GO)

    assert transcript.source == "youtube:auto"
    assert transcript.notes[0] == "The English (en) captions were empty."


def test_it_reads_the_great_war_recording(fake):
    transcript = captions(fake, GREAT_WAR)

    assert transcript.source == "youtube:manual"
    assert caption_request(fake)["v"] == GREAT_WAR


# ── Consent cookie ──────────────────────────────────────────────────────────────────────────────────────


def test_it_answers_the_consent_page_and_retries(fake):
    fake.watch = "consent"

    transcript = captions(fake, SURFACE_GO)

    assert transcript.source == "youtube:manual"
    cookies = [(s.path, s.headers.get("cookie")) for s in fake.seen]
    answer = f"CONSENT=YES+{CONSENT_VALUE}"
    assert cookies == [
        ("/watch", None),
        ("/watch", answer),
        ("/youtubei/v1/player", answer),
        ("/api/timedtext", answer),
    ]


@pytest.mark.parametrize("scene", ["consent_always", "consent_invalid"])
def test_it_says_so_when_consent_is_not_taken(fake, scene):
    fake.watch = scene

    with pytest.raises(MediaError) as caught:
        captions(fake, SURFACE_GO)

    assert caught.value.message == youtube.CONSENT_FAILED
    assert "FailedToCreateConsentCookie" in caught.value.detail


# ── Failures → sentences ────────────────────────────────────────────────────────────────────────────────

PLAYER_FAILURES = [
    ("youtube_request_blocked.innertube.json.static", youtube.BLOCKED, "RequestBlocked"),
    ("youtube_video_unavailable.innertube.json.static", youtube.UNAVAILABLE, "VideoUnavailable"),
    ("youtube_age_restricted.innertube.json.static", youtube.AGE_RESTRICTED, "AgeRestricted"),
    (
        "youtube_unplayable.innertube.json.static",
        "YouTube will not play this video here (it says: “Custom Reason. Sub Reason 1 Sub Reason 2”); "
        "upload the file instead.",
        "VideoUnplayable",
    ),
]


@pytest.mark.parametrize(("recording", "sentence", "library_error"), PLAYER_FAILURES)
def test_each_recorded_failure_becomes_its_sentence(fake, recording, sentence, library_error):
    fake.players[VIDEO] = asset(recording)

    with pytest.raises(MediaError) as caught:
        captions(fake)

    assert type(caught.value) is MediaError
    assert caught.value.message == sentence
    assert caught.value.detail.startswith(library_error)


@pytest.mark.parametrize(
    "recording",
    ["youtube_transcripts_disabled.innertube.json.static", "youtube_transcripts_disabled2.innertube.json.static"],
)
def test_disabled_captions_leave_the_audio_to_transcribe(fake, recording):
    fake.players[VIDEO] = asset(recording)

    with pytest.raises(CaptionsUnavailable) as caught:
        captions(fake)

    assert caught.value.message == youtube.CAPTIONS_DISABLED
    assert caught.value.detail.startswith("TranscriptsDisabled")


@pytest.mark.parametrize(
    ("status", "reason", "sentence"),
    [
        ("LOGIN_REQUIRED", "This video is private", youtube.PRIVATE),
        ("LIVE_STREAM_OFFLINE", "This live event will begin in 3 hours.", youtube.LIVE),
        (
            "UNPLAYABLE",
            "Join this channel to get access to members-only content like this video.",
            youtube.MEMBERS_ONLY,
        ),
        ("UNPLAYABLE", "The uploader has not made this video available in your country", youtube.GEO_BLOCKED),
    ],
)
def test_youtubes_reasons_become_sentences(fake, status, reason, sentence):
    fake.players[VIDEO] = player_with_status(status, reason)

    with pytest.raises(MediaError) as caught:
        captions(fake)

    assert caught.value.message == sentence
    assert reason in caught.value.detail


def test_a_recaptcha_page_means_blocked(fake):
    fake.watch = "recaptcha"  # the recorded "too many requests" page

    with pytest.raises(MediaError) as caught:
        captions(fake, SURFACE_GO)

    assert caught.value.message == youtube.BLOCKED
    assert caught.value.detail.startswith("IpBlocked")


def test_http_429_on_the_watch_page_means_blocked(fake):
    fake.watch = 429

    with pytest.raises(MediaError) as caught:
        captions(fake, SURFACE_GO)

    assert caught.value.message == youtube.BLOCKED


def test_http_429_on_the_captions_means_blocked(fake):
    fake.timedtext_status = 429

    with pytest.raises(MediaError) as caught:
        captions(fake, SURFACE_GO)

    assert caught.value.message == youtube.BLOCKED
    assert [s.path for s in fake.seen][-1] == "/api/timedtext"


def test_a_server_error_is_named(fake):
    fake.player_status = 500

    with pytest.raises(MediaError) as caught:
        captions(fake, SURFACE_GO)

    assert caught.value.message == (
        "YouTube answered with an error (500 Server Error: Internal Server Error); try again in a few minutes, "
        "or upload the file instead."
    )
    assert caught.value.detail.startswith("YouTubeRequestFailed")


def test_an_unknown_video_is_unavailable(fake):
    with pytest.raises(MediaError) as caught:
        captions(fake, "zzzzzzzzzzz")

    assert caught.value.message == youtube.UNAVAILABLE


def test_a_broken_caption_document_is_unreadable(fake):
    fake.tracks[("en", "", "")] = "<transcript><text start='0'>never closed"

    with pytest.raises(MediaError) as caught:
        captions(fake, SURFACE_GO)

    assert caught.value.message == youtube.UNREADABLE


def test_a_hostile_caption_document_is_refused(fake):
    fake.tracks[("en", "", "")] = (
        '<?xml version="1.0"?><!DOCTYPE t [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
        '<transcript><text start="0" dur="1">&b;</text></transcript>'
    )

    with pytest.raises(MediaError) as caught:
        captions(fake, SURFACE_GO)

    assert caught.value.message == youtube.UNREADABLE
    assert "Entities" in caught.value.detail  # defusedxml refused it


def test_a_malformed_id_never_reaches_youtube(fake):
    with pytest.raises(MediaError) as caught:
        captions(fake, "https://www.youtube.com/watch?v=GJLlxj_dtq8")

    assert caught.value.message == youtube.INVALID_ID
    assert fake.seen == []


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_youtube_is_said_plainly():
    with pytest.raises(MediaError) as caught:
        fetch_captions(SURFACE_GO, base_url=f"http://127.0.0.1:{closed_port()}")

    assert caught.value.message == youtube.UNREACHABLE
    assert "ConnectionError" in caught.value.detail


def test_a_silent_youtube_times_out():
    with socket.socket() as listener:  # accepts connections, never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        with pytest.raises(MediaError) as caught:
            fetch_captions(SURFACE_GO, base_url=f"http://127.0.0.1:{listener.getsockname()[1]}", timeout=0.3)

    assert caught.value.message == youtube.UNREACHABLE
    assert "Timeout" in caught.value.detail


# ── Proxy ───────────────────────────────────────────────────────────────────────────────────────────────


def test_it_goes_through_the_proxy(fake):
    # www.youtube.invalid cannot be resolved: this only works if every request goes through the proxy.
    transcript = fetch_captions(SURFACE_GO, base_url="http://www.youtube.invalid", proxy=fake.url)

    assert transcript.source == "youtube:manual"
    assert len(fake.seen) == 3
    assert {s.proxied_host for s in fake.seen} == {"www.youtube.invalid"}


def test_blocked_through_the_proxy_suggests_another(fake):
    fake.watch = "recaptcha"

    with pytest.raises(MediaError) as caught:
        fetch_captions(SURFACE_GO, base_url="http://www.youtube.invalid", proxy=fake.url)

    assert caught.value.message == youtube.BLOCKED_PROXY


def test_a_dead_proxy_is_named():
    with pytest.raises(MediaError) as caught:
        fetch_captions(SURFACE_GO, base_url="http://www.youtube.invalid", proxy=f"http://127.0.0.1:{closed_port()}")

    assert caught.value.message == youtube.PROXY_FAILED


# ── The mapping itself ──────────────────────────────────────────────────────────────────────────────────


def test_every_library_exception_has_a_sentence():
    exported = [getattr(yta, name) for name in yta.__all__]
    exceptions = [obj for obj in exported if isinstance(obj, type) and issubclass(obj, Exception)]

    assert len(exceptions) >= 19
    assert [e.__name__ for e in exceptions if e not in youtube.CAPTION_SENTENCES] == []


@pytest.mark.parametrize(
    ("reason", "sentence"),
    [
        # YouTube's words, as yt-dlp passes them on in its errors
        ("Private video. Sign in if you've been granted access to this video", youtube.PRIVATE),
        ("Video unavailable. This video is private", youtube.PRIVATE),
        ("Sign in to confirm your age. This video may be inappropriate for some users.", youtube.AGE_RESTRICTED),
        ("Sign in to confirm you’re not a bot. Use --cookies-from-browser or --cookies", youtube.BLOCKED),
        ("This content isn't available, try again later.", youtube.BLOCKED),
        ("Join this channel to get access to members-only content like this video", youtube.MEMBERS_ONLY),
        ("This live event will begin in 3 hours.", youtube.LIVE),
        ("Premieres in 2 hours", youtube.LIVE),
        ("Video unavailable. This video has been removed by the uploader", youtube.UNAVAILABLE),
        ("This video is no longer available due to a copyright claim by Someone", youtube.UNAVAILABLE),
        ("Video unavailable. The uploader has not made this video available in your country", youtube.GEO_BLOCKED),
    ],
)
def test_youtube_reasons_map_to_sentences(reason, sentence):
    assert youtube.reason_sentence(reason) == sentence


def test_an_unknown_reason_is_quoted():
    assert youtube.reason_sentence("Something new") == (
        "YouTube will not play this video here (it says: “Something new”); upload the file instead."
    )
