"""YouTube as a source: captions with youtube-transcript-api, metadata and the video itself with yt-dlp.

Both libraries are used through their public APIs and pointed elsewhere by configuration only:
- `proxy` (e.g. "http://user:pass@proxy:3128") is handed to youtube-transcript-api as a GenericProxyConfig
  and to yt-dlp as its `proxy` option;
- `base_url` sends every caption request meant for https://www.youtube.com to another server (the tests'
  loopback fake YouTube) through a requests transport adapter; None means YouTube itself;
- `extractors` names the yt-dlp extractors allowed to handle a URL: YouTube's only, unless a test downloads
  from a loopback server with yt-dlp's generic extractor.

Every failure becomes a MediaError whose message is a sentence with a way out; the library's own text is
kept in `detail` for operators.

For a job: `fetch_captions` first (CaptionsUnavailable means: transcribe the audio instead), then, when the
video itself is wanted, `download_video` with `on_progress` feeding the progress events (it reads the title
and duration first, and refuses live streams, playlists and overlong videos before fetching a byte).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from xml.etree.ElementTree import ParseError

import requests
import youtube_transcript_api as yta
import yt_dlp
from requests.adapters import HTTPAdapter
from youtube_transcript_api.proxies import GenericProxyConfig
from yt_dlp.networking.exceptions import HTTPError as YtHTTPError
from yt_dlp.networking.exceptions import ProxyError as YtProxyError
from yt_dlp.networking.exceptions import TransportError as YtTransportError
from yt_dlp.utils import GeoRestrictedError, UnsupportedError, YoutubeDLError

from ..errors import Cancelled, MediaError
from ..probe import clock
from ..process import CancelToken
from ..transcript.types import Segment, Transcript
from .youtube_url import PLAYLIST, VIDEO_ID, parse_youtube_url

# ── Sentences ───────────────────────────────────────────────────────────────────────────────────────────

BLOCKED = "YouTube is refusing this server; upload the file instead, or set a proxy in settings."
BLOCKED_PROXY = (
    "YouTube is refusing this server even through the proxy in settings; upload the file instead, or try another proxy."
)
PROXY_FAILED = "The proxy set in settings did not work; fix or clear it in settings, or upload the file instead."
UNREACHABLE = (
    "YouTube could not be reached from this server; try again in a few minutes, check the proxy in settings, "
    "or upload the file instead."
)
UNAVAILABLE = (
    "This YouTube video is unavailable (removed, or the link is wrong); check the link, or upload the file instead."
)
PRIVATE = "This video is private on YouTube; ask its owner to make it public or unlisted, or upload the file instead."
AGE_RESTRICTED = (
    "This video is age-restricted on YouTube and cannot be fetched without signing in; download it yourself "
    "and upload the file instead."
)
MEMBERS_ONLY = "This video is for the channel's members only; upload the file instead."
LIVE = (
    "This is a live stream or premiere that has not finished; try again once it has ended and YouTube has "
    "processed it, or upload a recording."
)
GEO_BLOCKED = (
    "This video is not available in this server's country; set a proxy in another country in settings, "
    "or upload the file instead."
)
INVALID_ID = "That is not a YouTube video id; paste the video's link from its Share button."
CAPTIONS_DISABLED = (
    "This video's captions are turned off on YouTube; download the video so its audio can be transcribed, "
    "or upload the file instead."
)
NO_CAPTIONS = (
    "YouTube has no usable captions for this video; download the video so its audio can be transcribed, "
    "or upload the file instead."
)
CAPTIONS_WITHHELD = (
    "YouTube withholds this video's captions from apps like this one; download the video so its audio can "
    "be transcribed, or upload the file instead."
)
CONSENT_FAILED = (
    "YouTube asked this server to accept its cookie terms and did not take the answer; try again later, "
    "set a proxy in settings, or upload the file instead."
)
UNREADABLE = (
    "YouTube sent a page this app cannot read (YouTube may have changed it); try again later, "
    "or upload the file instead."
)
COOKIES_UNSUPPORTED = "Signing in to YouTube with cookies is not supported; upload the file instead."
CAPTIONS_FAILED = "The captions could not be fetched from YouTube; try again later, or upload the file instead."
ONLY_YOUTUBE = "Only YouTube videos can be downloaded; paste the video's youtube.com or youtu.be link."
NO_FORMAT = "YouTube offers no downloadable version of this video to this server; upload the file instead."
DOWNLOAD_FAILED = "The video could not be downloaded from YouTube; try again later, or upload the file instead."


def _request_failed(status: str) -> str:
    return f"YouTube answered with an error ({status}); try again in a few minutes, or upload the file instead."


def _unplayable(reason: str) -> str:
    reason = " ".join(reason.split())[:200] or "no reason given"
    return f"YouTube will not play this video here (it says: “{reason}”); upload the file instead."


# What YouTube says when it will not play a video (its playabilityStatus reason, which both libraries pass
# on), most specific first: "Video unavailable. This video is private" is about privacy.
_REASONS: list[tuple[tuple[str, ...], str]] = [
    (("not a bot", "captcha", "unusual traffic", "too many requests", "rate-limited", "try again later"), BLOCKED),
    (("private",), PRIVATE),
    (("inappropriate", "confirm your age", "age-restricted", "age restricted"), AGE_RESTRICTED),
    (("members-only", "join this channel"), MEMBERS_ONLY),
    (("live event", "premiere", "live stream", "livestream"), LIVE),
    (("your country", "your location"), GEO_BLOCKED),
    (("unavailable", "removed", "terminated", "no longer available", "does not exist", "isn't available"), UNAVAILABLE),
]


def reason_sentence(reason: str, *, fallback: str | None = None) -> str:
    """The sentence for one of YouTube's own reasons ("This video is private", "Sign in to confirm your age"…)."""
    lowered = reason.lower().replace("’", "'")
    for needles, sentence in _REASONS:
        if any(needle in lowered for needle in needles):
            return sentence
    return fallback if fallback is not None else _unplayable(reason)


# ── Captions ────────────────────────────────────────────────────────────────────────────────────────────


class CaptionsUnavailable(MediaError):
    """The video is fine but YouTube gives no usable captions for it: the caller may transcribe its audio."""


# Every exception youtube-transcript-api exports → its sentence. None: the sentence depends on the instance
# (see caption_error). A test checks that no exported class is missing.
CAPTION_SENTENCES: dict[type[Exception], str | None] = {
    yta.IpBlocked: None,
    yta.RequestBlocked: None,
    yta.VideoUnplayable: None,
    yta.YouTubeRequestFailed: None,
    yta.VideoUnavailable: UNAVAILABLE,
    yta.InvalidVideoId: INVALID_ID,
    yta.AgeRestricted: AGE_RESTRICTED,
    yta.TranscriptsDisabled: CAPTIONS_DISABLED,
    yta.NoTranscriptFound: NO_CAPTIONS,
    yta.NotTranslatable: NO_CAPTIONS,
    yta.TranslationLanguageNotAvailable: NO_CAPTIONS,
    yta.PoTokenRequired: CAPTIONS_WITHHELD,
    yta.FailedToCreateConsentCookie: CONSENT_FAILED,
    yta.YouTubeDataUnparsable: UNREADABLE,
    yta.CookiePathInvalid: COOKIES_UNSUPPORTED,
    yta.CookieInvalid: COOKIES_UNSUPPORTED,
    yta.CookieError: COOKIES_UNSUPPORTED,
    yta.CouldNotRetrieveTranscript: CAPTIONS_FAILED,
    yta.YouTubeTranscriptApiException: CAPTIONS_FAILED,
}
# Failures that leave the video usable: the audio can still be transcribed.
_CAPTIONS_ONLY = (
    yta.TranscriptsDisabled,
    yta.NoTranscriptFound,
    yta.NotTranslatable,
    yta.TranslationLanguageNotAvailable,
    yta.PoTokenRequired,
)


def caption_error(exc: BaseException, *, proxy: str | None = None) -> MediaError:
    """The MediaError for a failure while fetching captions (library exception, HTTP error, bad XML)."""
    detail = f"{type(exc).__name__}: {exc}".strip()
    if isinstance(exc, yta.RequestBlocked):  # IpBlocked included: a recaptcha page or HTTP 429
        return MediaError(BLOCKED_PROXY if proxy else BLOCKED, detail=detail)
    if isinstance(exc, yta.VideoUnplayable):
        reason = ". ".join(filter(None, [exc.reason or "", " ".join(exc.sub_reasons)]))
        return MediaError(reason_sentence(reason), detail=detail)
    if isinstance(exc, yta.YouTubeRequestFailed):
        status = exc.reason.split(" for url", 1)[0] or "no answer"
        return MediaError(_request_failed(status), detail=detail)
    if isinstance(exc, yta.YouTubeTranscriptApiException):
        sentence = next(CAPTION_SENTENCES[c] for c in type(exc).__mro__ if c in CAPTION_SENTENCES)
        error_class = CaptionsUnavailable if isinstance(exc, _CAPTIONS_ONLY) else MediaError
        return error_class(sentence or CAPTIONS_FAILED, detail=detail)
    if isinstance(exc, requests.exceptions.ProxyError):
        return MediaError(PROXY_FAILED, detail=detail)
    if isinstance(exc, requests.exceptions.JSONDecodeError | ParseError | ValueError):
        return MediaError(UNREADABLE, detail=detail)
    if isinstance(exc, requests.RequestException):
        return MediaError(UNREACHABLE, detail=detail)
    return MediaError(CAPTIONS_FAILED, detail=detail)


_YOUTUBE_API_HOSTS = {"www.youtube.com", "youtube.com", "m.youtube.com"}


class _YouTubeAdapter(HTTPAdapter):
    """A transport adapter that gives every request a timeout and, with a base URL, sends the requests
    meant for YouTube there instead.

    Rewriting here, after requests has prepared the request, keeps the URL the library sees (and the
    cookies it sets for .youtube.com, such as the consent cookie) exactly as with the real YouTube.
    """

    def __init__(self, *, base_url: str | None, timeout: float) -> None:
        super().__init__()
        self._base = urlsplit(base_url.rstrip("/")) if base_url else None
        self._timeout = timeout

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: bool | str = True,
        cert: Any = None,
        proxies: Any = None,
    ) -> requests.Response:
        options = {"stream": stream, "timeout": timeout or self._timeout, "verify": verify, "cert": cert}
        parts = urlsplit(request.url or "")
        if self._base is None or parts.hostname not in _YOUTUBE_API_HOSTS:
            return super().send(request, proxies=proxies, **options)
        moved = request.copy()
        moved.url = urlunsplit((self._base.scheme, self._base.netloc, self._base.path + parts.path, parts.query, ""))
        response = super().send(moved, proxies=proxies, **options)
        response.request = request  # what the library asked for, as if YouTube had answered
        return response


def youtube_session(*, base_url: str | None = None, timeout: float = 20.0) -> requests.Session:
    """The requests.Session youtube-transcript-api is given: timeouts always, `base_url` instead of YouTube."""
    if base_url is not None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"base_url must be an http(s) URL, not {base_url!r}")
    session = requests.Session()
    adapter = _YouTubeAdapter(base_url=base_url, timeout=timeout)
    # The longest matching prefix wins, so the YouTube ones stay ours even when youtube-transcript-api
    # mounts its own retrying adapter on "https://" for some proxy configurations.
    for prefix in ("https://www.youtube.com/", "https://youtube.com/", "https://m.youtube.com/", "https://", "http://"):
        session.mount(prefix, adapter)
    return session


def _proxy_config(proxy: str | None) -> GenericProxyConfig | None:
    return GenericProxyConfig(http_url=proxy, https_url=proxy) if proxy else None


def fetch_captions(
    video_id: str,
    *,
    proxy: str | None = None,
    base_url: str | None = None,
    timeout: float = 20.0,
) -> Transcript:
    """The best YouTube captions for `video_id` as a Transcript, in this order:

    1. manual English ("youtube:manual"),
    2. auto-generated English ("youtube:auto"),
    3. a manual track translated to English by YouTube ("youtube:translated"),
    4. any other track, as it is ("youtube:other"; `language` says which).

    A track YouTube withholds (PO token) or that turns out empty is skipped for the next. Raises
    CaptionsUnavailable when the video has no usable captions (the audio can still be transcribed), and
    MediaError for everything else (blocked, private, age-restricted, unavailable…).
    """
    if not VIDEO_ID.fullmatch(video_id or ""):
        raise MediaError(INVALID_ID, detail=f"video id {video_id!r}")
    api = yta.YouTubeTranscriptApi(
        proxy_config=_proxy_config(proxy),
        http_client=youtube_session(base_url=base_url, timeout=timeout),
    )
    try:
        listing = api.list(video_id)
        candidates = _candidates(listing)
        skipped: list[str] = []
        first_error: Exception | None = None
        for track, source, note in candidates:
            try:
                fetched = track.fetch()
            except yta.PoTokenRequired as exc:
                first_error = first_error or exc
                skipped.append(f"YouTube withheld the {_describe(track)} captions.")
                continue
            segments = _segments(fetched)
            if not segments:
                skipped.append(f"The {_describe(track)} captions were empty.")
                continue
            return Transcript(segments=segments, language=track.language_code, source=source, notes=[*skipped, note])
    except (yta.YouTubeTranscriptApiException, requests.RequestException, ParseError, ValueError) as exc:
        # ValueError: what defusedxml raises on a hostile document; ParseError: on a broken one.
        raise caption_error(exc, proxy=proxy) from exc
    if first_error is not None:
        raise caption_error(first_error, proxy=proxy) from first_error
    raise CaptionsUnavailable(NO_CAPTIONS, detail=f"{video_id}: no usable track; {' '.join(skipped)}\n{listing}")


def _is_english(code: str) -> bool:
    return code == "en" or code.startswith("en-")


def _describe(track: yta.Transcript) -> str:
    kind = "auto-generated " if track.is_generated else ""
    return f"{kind}{track.language} ({track.language_code})"


def _candidates(listing: yta.TranscriptList) -> list[tuple[yta.Transcript, str, str]]:
    """(track, source, note) in the order of preference; nothing is fetched yet."""
    tracks = list(listing)
    english = sorted({t.language_code for t in tracks if _is_english(t.language_code)}, key=lambda c: (c != "en", c))
    # YouTube's speech recognition runs on the spoken language, so an auto-generated track names it; a
    # manual track in that language is the best one to translate or to fall back on.
    spoken = {t.language_code for t in tracks if t.is_generated}
    out: list[tuple[yta.Transcript, str, str]] = []
    for finder, source, how in (
        (listing.find_manually_created_transcript, "youtube:manual", "written by a person"),
        (listing.find_generated_transcript, "youtube:auto", "so names and punctuation may be wrong"),
    ):
        for code in english:
            try:
                track = finder([code])
            except yta.NoTranscriptFound:
                continue
            out.append((track, source, f"Captions from YouTube: {track.language}, {how}."))
    manual = sorted((t for t in tracks if not t.is_generated), key=lambda t: t.language_code not in spoken)
    for track in manual:
        if _is_english(track.language_code):
            continue
        if any(lang.language_code == "en" for lang in track.translation_languages):
            note = f"Captions from YouTube: translated to English by YouTube from the {_describe(track)} captions."
            out.append((track.translate("en"), "youtube:translated", note))
    others = sorted(
        (t for t in tracks if not _is_english(t.language_code)),
        key=lambda t: (t.is_generated, t.language_code not in spoken),
    )
    for track in others:
        note = f"No English captions on YouTube; these are the {_describe(track)} captions, not translated."
        out.append((track, "youtube:other", note))
    return out


def _segments(fetched: yta.FetchedTranscript) -> list[Segment]:
    """Snippets → segments. A snippet's duration is how long YouTube shows it, and auto-generated ones
    overlap the next; ending each segment where the next begins keeps every word in one interval."""
    items = sorted(
        ((s.start, s.duration, " ".join(s.text.split())) for s in fetched.snippets if s.text.strip()),
        key=lambda item: item[0],
    )
    segments: list[Segment] = []
    for i, (start, duration, text) in enumerate(items):
        end = start + max(duration, 0.0)
        following = items[i + 1][0] if i + 1 < len(items) else None
        if following is not None and following > start and (end > following or duration <= 0):
            end = following
        segments.append(Segment(start=start, end=max(end, start), text=text))
    return segments


# ── yt-dlp: metadata and the video ──────────────────────────────────────────────────────────────────────

# Browsers play H.264 + AAC in MP4 everywhere, and the pipeline then copies the video stream instead of
# re-encoding it. Each fallback is a little less friendly; the last takes whatever there is.
FORMAT = (
    "bv*[vcodec^=avc1][height<=?{h}]+ba[acodec^=mp4a]"
    "/b[vcodec^=avc1][acodec^=mp4a][height<=?{h}]"
    "/bv*[height<=?{h}]+ba"
    "/b[height<=?{h}]"
    "/bv*+ba/b"
)
_NOT_FINISHED = {"is_live", "is_upcoming", "post_live"}


@dataclass(frozen=True)
class VideoInfo:
    video_id: str
    title: str
    channel: str
    duration: float | None
    live_status: str | None
    thumbnail: str | None
    webpage_url: str


@dataclass(frozen=True)
class DownloadProgress:
    downloaded_bytes: int
    total_bytes: int | None
    percent: float | None
    speed: float | None  # bytes per second
    eta: float | None  # seconds
    finished: bool = False

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Download:
    path: Path
    size: int
    format: str
    info: VideoInfo


class _Log:
    """yt-dlp's logger: nothing on the console, the last lines kept for the operator's `detail`."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def _keep(self, msg: str) -> None:
        self.lines = [*self.lines[-40:], msg]

    def debug(self, msg: str) -> None:
        self._keep(msg)

    def info(self, msg: str) -> None:
        self._keep(msg)

    def warning(self, msg: str) -> None:
        self._keep(f"WARNING: {msg}")

    def error(self, msg: str) -> None:
        self._keep(msg)


def _options(*, proxy: str | None, timeout: float, extractors: Sequence[str], log: _Log) -> dict[str, Any]:
    options: dict[str, Any] = {
        "logger": log,
        "quiet": True,
        "noprogress": True,
        # One video, from the extractors named, at the URL given.
        "allowed_extractors": list(extractors),
        "noplaylist": True,
        "playlist_items": "1",
        "socket_timeout": timeout,
        "retries": 3,
        "fragment_retries": 3,
        "extractor_retries": 1,
        "updatetime": False,
        "writesubtitles": False,
        "writeinfojson": False,
        "writethumbnail": False,
        # YouTube's player needs a JavaScript runtime for its signatures; node comes with the project's npm.
        "js_runtimes": {"deno": {}, "node": {}},
    }
    if proxy:
        options["proxy"] = proxy
    return options


def _video_info(info: Mapping[str, Any]) -> VideoInfo:
    return VideoInfo(
        video_id=str(info.get("id") or ""),
        title=str(info.get("title") or info.get("id") or ""),
        channel=str(info.get("channel") or info.get("uploader") or ""),
        duration=float(info["duration"]) if info.get("duration") else None,
        live_status=info.get("live_status"),
        thumbnail=info.get("thumbnail"),
        webpage_url=str(info.get("webpage_url") or info.get("original_url") or ""),
    )


def _refuse_unsuitable(info: Mapping[str, Any], *, max_duration: float | None) -> None:
    if info.get("_type") in ("playlist", "multi_video"):
        raise MediaError(PLAYLIST, detail=f"yt-dlp returned a {info.get('_type')}: {info.get('id')}")
    if info.get("is_live") or info.get("live_status") in _NOT_FINISHED:
        raise MediaError(LIVE, detail=f"live_status {info.get('live_status')!r}")
    duration = info.get("duration")
    if max_duration is not None and duration and duration > max_duration:
        raise MediaError(
            f"The video is {clock(duration)} long; the limit is {clock(max_duration)}.",
            detail=f"duration {duration}",
        )


def _causes(exc: BaseException) -> list[BaseException]:
    """The exception and what it wraps: DownloadError.exc_info, ExtractorError.cause, __cause__…"""
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo and len(seen) < 20:
        current = todo.pop(0)
        if current is None or any(current is s for s in seen) or not isinstance(current, BaseException):
            continue
        seen.append(current)
        exc_info = getattr(current, "exc_info", None)
        todo.extend(
            [
                exc_info[1] if isinstance(exc_info, tuple) and len(exc_info) > 1 else None,
                getattr(current, "cause", None) if isinstance(getattr(current, "cause", None), BaseException) else None,
                current.__cause__,
                current.__context__,
            ]
        )
    return seen


def ytdlp_error(exc: BaseException, *, proxy: str | None = None, log: Sequence[str] = ()) -> MediaError:
    """The MediaError for a yt-dlp failure, by what caused it, else by YouTube's reason in the message."""
    detail = "\n".join([f"{type(exc).__name__}: {exc}", *log[-15:]])
    for cause in _causes(exc):
        if isinstance(cause, YtProxyError):
            return MediaError(PROXY_FAILED, detail=detail)
        if isinstance(cause, YtHTTPError):
            if cause.status in (403, 429):
                return MediaError(BLOCKED_PROXY if proxy else BLOCKED, detail=detail)
            if cause.status in (404, 410):
                return MediaError(UNAVAILABLE, detail=detail)
            return MediaError(_request_failed(f"HTTP {cause.status}"), detail=detail)
        if isinstance(cause, GeoRestrictedError):
            return MediaError(GEO_BLOCKED, detail=detail)
        if isinstance(cause, UnsupportedError):
            return MediaError(ONLY_YOUTUBE, detail=detail)
        if isinstance(cause, YtTransportError):
            return MediaError(UNREACHABLE, detail=detail)
    message = str(exc)
    if "No suitable extractor" in message or "Unsupported URL" in message:
        return MediaError(ONLY_YOUTUBE, detail=detail)
    if "Requested format is not available" in message:
        return MediaError(NO_FORMAT, detail=detail)
    return MediaError(reason_sentence(message, fallback=DOWNLOAD_FAILED), detail=detail)


class _TooBig(Exception):
    pass


def download_video(
    url: str,
    dest: Path,
    *,
    max_bytes: int,
    proxy: str | None = None,
    on_progress: Callable[[DownloadProgress], None] | None = None,
    cancel: CancelToken | None = None,
    timeout: float = 30.0,
    max_duration: float | None = None,
    max_height: int = 1080,
    ffmpeg: str | None = None,
    extractors: Sequence[str] = ("youtube",),
    progress_interval: float = 0.5,
) -> Download:
    """Download the one video at `url` into `dest` (its suffix becomes the container's, .mp4 nearly always).

    1. Extract the video's description and refuse what does not fit before any byte is fetched: a playlist,
       an unfinished live stream, longer than `max_duration`, or announced bigger than `max_bytes`.
    2. Download into a folder beside `dest`, reporting progress (percent, speed, ETA) at most every
       `progress_interval` seconds; `cancel` and the `max_bytes` limit are checked on every block, so a
       download whose size was not announced is still stopped as soon as it passes the limit.
    3. Move the finished file to its place; on any failure the folder and its partial files are deleted.
    Raises MediaError with a sentence, or Cancelled.
    """
    log = _Log()
    work = dest.parent / f".{dest.name}.download"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    done = 0  # bytes of the parts already finished (video, then audio, when they come apart)
    expected: int | None = None  # all parts together, when yt-dlp knew every size beforehand
    last_emit = 0.0

    def emit(progress: DownloadProgress) -> None:
        nonlocal last_emit
        now = time.monotonic()
        if on_progress is not None and (progress.finished or now - last_emit >= progress_interval):
            last_emit = now
            on_progress(progress)

    def hook(d: dict) -> None:
        nonlocal done
        if cancel is not None and cancel.is_set():
            raise Cancelled()
        downloaded = int(d.get("downloaded_bytes") or d.get("total_bytes") or 0)
        if d.get("status") == "finished":
            done += downloaded
            return
        if d.get("status") != "downloading":
            return
        so_far = done + downloaded
        announced = int(d.get("total_bytes") or d.get("total_bytes_estimate") or 0)
        total = expected or (done + announced if announced else None)
        if so_far > max_bytes or (d.get("total_bytes") and done + int(d["total_bytes"]) > max_bytes):
            raise _TooBig(f"{so_far} bytes so far, {total} expected, limit {max_bytes}")
        percent = min(100.0, 100.0 * so_far / total) if total else None
        emit(DownloadProgress(so_far, total, percent, d.get("speed"), d.get("eta")))

    def postprocessor_hook(d: dict) -> None:
        if cancel is not None and cancel.is_set():
            raise Cancelled()

    options = _options(proxy=proxy, timeout=timeout, extractors=extractors, log=log)
    options.update(
        {
            "format": FORMAT.format(h=int(max_height)),
            "merge_output_format": "mp4",
            "paths": {"home": str(work), "temp": str(work)},
            "outtmpl": {"default": "video.%(ext)s"},
            "progress_hooks": [hook],
            "postprocessor_hooks": [postprocessor_hook],
            "overwrites": True,
        }
    )
    if ffmpeg:
        options["ffmpeg_location"] = ffmpeg
    try:
        # The stubs' TypedDict of options does not list the hooks yt-dlp accepts; the options are ours.
        params: Any = options
        with yt_dlp.YoutubeDL(params) as ydl:
            info = ydl.extract_info(url, download=False)
            if not info:
                raise MediaError(DOWNLOAD_FAILED, detail="\n".join(log.lines))
            _refuse_unsuitable(info, max_duration=max_duration)
            expected = _announced_size(info)
            if expected is not None and expected > max_bytes:
                raise MediaError(
                    f"The video is about {_size(expected)}; the limit is {_size(max_bytes)}. "
                    "Upload a shorter or smaller file instead.",
                    detail=f"announced {expected} bytes, limit {max_bytes}",
                )
            if cancel is not None and cancel.is_set():
                raise Cancelled()
            result = ydl.process_ie_result(info, download=True)
        requested: Any = (result or {}).get("requested_downloads")  # a list of dicts, typed `object` by the stubs
        downloads: list[Any] = list(requested or [])
        produced = Path(downloads[0]["filepath"]) if downloads and downloads[0].get("filepath") else None
        if produced is None or not produced.is_file():
            raise MediaError(DOWNLOAD_FAILED, detail="yt-dlp finished without a file\n" + "\n".join(log.lines))
        target = dest.with_suffix(produced.suffix or dest.suffix)
        os.replace(produced, target)
        size = target.stat().st_size
        emit(DownloadProgress(size, size, 100.0, None, 0, finished=True))
        return Download(path=target, size=size, format=str(result.get("format_id") or ""), info=_video_info(result))
    except _TooBig as exc:
        raise MediaError(
            f"The video is bigger than the {_size(max_bytes)} limit, so the download was stopped; "
            "upload a shorter or smaller file instead.",
            detail=str(exc),
        ) from None
    except (MediaError, Cancelled):
        raise
    except YoutubeDLError as exc:
        raise ytdlp_error(exc, proxy=proxy, log=log.lines) from exc
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _announced_size(info: Mapping[str, Any]) -> int | None:
    """The bytes yt-dlp expects to fetch for the chosen format(s), when every part says so."""
    parts = info.get("requested_formats") or [info]
    sizes = [p.get("filesize") or p.get("filesize_approx") for p in parts]
    return int(sum(sizes)) if sizes and all(sizes) else None


def _size(n: float) -> str:
    for unit, scale in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{int(n)} bytes"


def list_videos(
    url: str,
    *,
    limit: int,
    proxy: str | None = None,
    timeout: float = 30.0,
    extractors: Sequence[str] = ("youtube",),
) -> list[str]:
    """The video ids of a playlist or channel, in its order, by yt-dlp's flat extraction (one listing
    request per page of the list, no video page fetched). Raises MediaError with a sentence: past `limit`
    videos, none found, or the listing failed."""
    log = _Log()
    names = list(extractors)
    if "youtube" in names:
        names += ["youtube:tab", "youtube:playlist"]  # the listing extractors of YouTube's pages
    options: dict[str, Any] = {
        "logger": log,
        "quiet": True,
        "noprogress": True,
        "allowed_extractors": names,
        "extract_flat": "in_playlist",
        "playlistend": limit + 1,  # one more than allowed: enough to know the list is too long
        "socket_timeout": timeout,
        "extractor_retries": 1,
        **({"proxy": proxy} if proxy else {}),
    }
    try:
        with yt_dlp.YoutubeDL(options) as ydl:  # type: ignore[arg-type]  # yt-dlp's TypedDict lacks some keys
            info: Mapping[str, Any] = ydl.extract_info(url, download=False) or {}
    except YoutubeDLError as exc:
        raise ytdlp_error(exc, proxy=proxy, log=log.lines) from None
    ids: list[str] = []
    for entry in list(info.get("entries") or []):
        if not isinstance(entry, Mapping):
            continue
        for candidate in (entry.get("id"), entry.get("url")):
            try:
                video_id = parse_youtube_url(str(candidate or ""))
            except MediaError:
                continue
            if video_id not in ids:
                ids.append(video_id)
            break
    if len(ids) > limit:
        raise MediaError(
            f"This list has more than {limit} videos, the most one batch takes from a playlist or channel; "
            "paste a shorter playlist, or the videos' own links."
        )
    if not ids:
        raise MediaError("No videos were found in this playlist or channel; check that it is public.")
    return ids
