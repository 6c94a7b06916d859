"""Turn what a user pasted into a YouTube video id, or refuse it with a sentence.

Pure string parsing: nothing is fetched, no redirect is followed and no name is resolved. Only the
YouTube hosts below and their known video forms are accepted, so a short link from another site, an IP
address or a look-alike host never reaches the network, whatever it would redirect to.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import parse_qs, urlsplit

from ..errors import MediaError

VIDEO_ID = re.compile(r"[A-Za-z0-9_-]{11}")

# Host (exactly as written, lower-cased; no user, no port) → the paths that name a video on it.
_YOUTUBE_HOSTS = {"youtube.com", "www.youtube.com", "m.youtube.com", "music.youtube.com"}
_NOCOOKIE_HOSTS = {"youtube-nocookie.com", "www.youtube-nocookie.com"}
_SHORT_HOSTS = {"youtu.be", "www.youtu.be"}
# /shorts/ID, /embed/ID, /live/ID, /v/ID, /e/ID: the id is the next path segment.
_ID_IN_PATH = {"shorts", "embed", "live", "v", "e"}
# Pages on youtube.com that are not one video.
_NOT_A_VIDEO = {"channel", "c", "user", "results", "feed", "playlist", "hashtag", "clip", "post", "redirect"}
# Link shorteners people paste: named so the refusal can say why a short link is not followed.
_SHORTENERS = {"bit.ly", "t.co", "goo.gl", "tinyurl.com", "ow.ly", "buff.ly", "is.gd", "rebrand.ly", "lnkd.in"}

MAX_LENGTH = 2000

EXAMPLE = "https://www.youtube.com/watch?v=dQw4w9WgXcQ"
PLAYLIST = "That is a playlist link; open one video of the playlist and paste that video's link."
NOT_YOUTUBE = (
    "Only YouTube video links can be used; paste the video's youtube.com or youtu.be link, or upload the file."
)


def watch_url(video_id: str) -> str:
    """The canonical page of a video: what is stored and what yt-dlp is given."""
    return f"https://www.youtube.com/watch?v={video_id}"


def parse_youtube_url(text: str) -> str:
    """The 11-character video id in a YouTube link (or a bare id). Raises MediaError with a sentence.

    Accepted: youtube.com/watch?v=ID (any other query parameters, in any order), youtu.be/ID,
    youtube.com/shorts|embed|live|v|e/ID, youtube-nocookie.com/embed/ID, on www., m. and music.,
    with or without http(s)://. A watch link inside a playlist (…&list=…) gives its video.
    """
    value = (text or "").strip()
    if not value:
        raise MediaError(f"Paste a YouTube video link, for example {EXAMPLE}.")
    if len(value) > MAX_LENGTH:
        raise MediaError(
            "That link is too long to be a YouTube video link; paste the link from the video's Share button."
        )
    if VIDEO_ID.fullmatch(value):
        return value
    # Spaces, control characters, backslashes and non-ASCII look-alike letters have no place in a YouTube
    # link; refusing them here means the URL parser below never has to guess what they meant.
    if not value.isascii() or any(ch.isspace() or ord(ch) < 32 or ch in "\\\x7f" for ch in value):
        raise MediaError(f"That does not look like a YouTube link; paste one like {EXAMPLE}.")

    scheme = re.match(r"([A-Za-z][A-Za-z0-9+.-]*):", value)
    if scheme and not value.lower().startswith(("http://", "https://")):
        # file:, javascript:, data:, ftp:… and also "host:port/…", which no YouTube link has.
        if scheme.group(1).lower() == "file":
            raise MediaError("Files on a computer cannot be linked; upload the file instead.")
        raise MediaError(NOT_YOUTUBE)
    if value.startswith("//"):
        value = "https:" + value
    elif not value.lower().startswith(("http://", "https://")):
        value = "https://" + value

    try:
        parts = urlsplit(value)
        netloc = parts.netloc.lower()
        hostname = (parts.hostname or "").lower()
    except ValueError:
        raise MediaError(f"That does not look like a YouTube link; paste one like {EXAMPLE}.") from None
    _check_host(netloc, hostname)

    segments = [s for s in parts.path.split("/") if s]
    query = parse_qs(parts.query, keep_blank_values=True)
    if hostname in _SHORT_HOSTS:
        if len(segments) == 1:
            return _video_id(segments[0])
        raise _no_video()
    if hostname in _NOCOOKIE_HOSTS:
        if segments[-1:] == ["videoseries"]:
            raise MediaError(PLAYLIST)
        if len(segments) == 2 and segments[0] == "embed":
            return _video_id(segments[1])
        raise _no_video()
    # youtube.com and its sub-hosts
    if segments == ["watch"]:
        ids = query.get("v") or []
        if len(ids) != 1:
            raise _no_video()
        return _video_id(ids[0])
    if segments[-1:] == ["videoseries"] or segments[:1] == ["playlist"] or (not segments and "list" in query):
        raise MediaError(PLAYLIST)
    if len(segments) == 2 and segments[0] in _ID_IN_PATH:
        return _video_id(segments[1])
    if segments and (segments[0] in _NOT_A_VIDEO or segments[0].startswith("@")):
        raise MediaError(
            "That is a YouTube page, not a video; open the video and paste its link from the Share button."
        )
    raise _no_video()


def _check_host(netloc: str, hostname: str) -> None:
    """Refuse anything but the YouTube hosts, written plainly (no user, no port, no trailing dot)."""
    if netloc in _YOUTUBE_HOSTS | _NOCOOKIE_HOSTS | _SHORT_HOSTS:
        return
    if "@" in netloc:
        raise MediaError(NOT_YOUTUBE)
    try:
        ipaddress.ip_address(hostname.strip("[]"))
    except ValueError:
        pass
    else:
        raise MediaError(
            "IP addresses cannot be used, only YouTube links; paste the video's youtube.com or youtu.be link, or upload the file."
        )
    if hostname.rstrip(".") in _YOUTUBE_HOSTS | _NOCOOKIE_HOSTS | _SHORT_HOSTS:
        # Right host with a port or a trailing dot: nobody copies such a link from YouTube.
        raise MediaError(f"That does not look like a YouTube link; paste one like {EXAMPLE}.")
    if hostname in _SHORTENERS:
        raise MediaError(
            "Short links from other sites are not followed; open it in your browser and paste the youtube.com "
            "address it leads to."
        )
    raise MediaError(NOT_YOUTUBE)


def _video_id(candidate: str) -> str:
    if VIDEO_ID.fullmatch(candidate):
        return candidate
    raise MediaError(
        "That YouTube link has no valid video id (11 letters, digits, - or _); copy the link again from the "
        "video's Share button."
    )


def _no_video() -> MediaError:
    return MediaError(f"That YouTube link does not point to a video; paste a video's link, for example {EXAMPLE}.")


_LIST_ID = re.compile(r"[A-Za-z0-9_-]{10,64}")
_CHANNEL_NAME = re.compile(r"@?[A-Za-z0-9_.-]{1,100}")


def collection_url(text: str) -> str | None:
    """The canonical address of a YouTube playlist or channel link (what flat extraction lists), or None
    when `text` is not one: a video link, or anything else, is left to `parse_youtube_url`.

    Playlists: youtube.com/playlist?list=ID. Channels: youtube.com/@name, /channel/ID, /c/name, /user/name
    (their uploads: …/videos). Only the plain YouTube hosts; nothing is fetched here.
    """
    value = (text or "").strip()
    if not value or len(value) > MAX_LENGTH or not value.isascii() or any(ch.isspace() for ch in value):
        return None
    if not value.lower().startswith(("http://", "https://")):
        value = "https://" + value.removeprefix("//")
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    if parts.netloc.lower() not in _YOUTUBE_HOSTS:
        return None
    segments = [s for s in parts.path.split("/") if s]
    query = parse_qs(parts.query)
    if segments == ["playlist"]:
        ids = query.get("list") or []
        if len(ids) == 1 and _LIST_ID.fullmatch(ids[0]):
            return f"https://www.youtube.com/playlist?list={ids[0]}"
        return None
    if segments and segments[0].startswith("@") and _CHANNEL_NAME.fullmatch(segments[0]):
        return f"https://www.youtube.com/{segments[0]}/videos"
    if len(segments) >= 2 and segments[0] in ("channel", "c", "user") and _CHANNEL_NAME.fullmatch(segments[1]):
        return f"https://www.youtube.com/{segments[0]}/{segments[1]}/videos"
    return None
