"""Loopback stand-ins for YouTube and for a plain video host: real HTTP servers on 127.0.0.1, port 0.

`FakeYouTube` replays the responses youtube-transcript-api records for its own tests (installed with it
under youtube_transcript_api/test/assets: the watch page, innertube player JSON, consent page, recaptcha
page, transcripts-disabled, age-restricted, unplayable, unavailable…) plus timedtext documents written
here. The app reaches it only through configuration (`base_url`). Routes, as on YouTube:

    GET  /watch?v=<id>                  the watch page (or the consent page, until the CONSENT cookie is sent)
    POST /youtubei/v1/player?key=<key>  the player JSON for the videoId in the body (unknown id: "unavailable")
    GET  /api/timedtext?…&lang=<code>[&kind=asr][&tlang=<code>]   a caption track

`VideoHost` serves bytes for yt-dlp, slowly when asked, with or without a Content-Length.

Both accept requests in proxy form ("GET http://host/path HTTP/1.1"), so a test can name one as the proxy
for an unresolvable host and see from `seen` that the proxy was used.
"""

from __future__ import annotations

import copy
import importlib.resources
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

ASSETS = importlib.resources.files("youtube_transcript_api.test.assets")


def asset(name: str) -> bytes:
    return (ASSETS / name).read_bytes()


WATCH_PAGE = "youtube.html.static"
API_KEY = re.search(rb'"INNERTUBE_API_KEY":\s*"([a-zA-Z0-9_-]+)"', asset(WATCH_PAGE)).group(1).decode()
CONSENT_VALUE = re.search(rb'name="v" value="(.*?)"', asset("youtube_consent_page.html.static")).group(1).decode()

# The recorded players: the Surface Go review (manual en, auto en, and manual zh/cs/de/hi/ja/ko/es tracks,
# all translatable to English) and a Great War episode (manual + auto English only).
SURFACE_GO = "GJLlxj_dtq8"
GREAT_WAR = "F1xioXWb8CY"

# Timedtext documents, in YouTube's plain format (what youtube-transcript-api asks for once it has removed
# "&fmt=srv3" from the track's URL). Manual English is the library's own recorded one.
AUTO_EN = """<?xml version="1.0" encoding="utf-8" ?><transcript>
<text start="0.08" dur="4.2">so today we are looking at</text>
<text start="2.5" dur="4.1">the new surface go and</text>
<text start="4.9" dur="3.0">it&amp;#39;s   awesome</text>
</transcript>"""
DE = """<?xml version="1.0" encoding="utf-8" ?><transcript>
<text start="0" dur="2">Hallo, das ist nur ein Test</text>
<text start="2" dur="3">und nicht das Original</text>
</transcript>"""
DE_TO_EN = """<?xml version="1.0" encoding="utf-8" ?><transcript>
<text start="0" dur="2">Hello, this is only a test</text>
<text start="2" dur="3">and not the original</text>
</transcript>"""


def timedtext(lang: str, kind: str = "", tlang: str = "") -> str:
    """A small document for any other track, saying which track it is."""
    label = f"{lang} {kind or 'manual'}" + (f" to {tlang}" if tlang else "")
    return (
        '<?xml version="1.0" encoding="utf-8" ?><transcript>'
        f'<text start="0" dur="1.5">{label} one</text><text start="1.5" dur="1.5">{label} two</text></transcript>'
    )


def player_with_tracks(
    tracks: list[tuple[str, str]], *, translatable: bool = True, source: str = "youtube.innertube.json.static"
) -> bytes:
    """The recorded player response with only the caption tracks named as (language code, "manual"|"asr"),
    in that order. A track the recording lacks (it has auto-generated English only) is made from a recorded
    one of the same kind with the language changed. `translatable=False` also takes away YouTube's
    translation languages."""
    data = json.loads(asset(source))
    renderer = data["captions"]["playerCaptionsTracklistRenderer"]
    recorded = renderer["captionTracks"]
    names = {t["languageCode"]: t["languageName"]["runs"][0]["text"] for t in renderer["translationLanguages"]}
    kept = []
    for code, kind in tracks:
        same_kind = [t for t in recorded if (t.get("kind") == "asr") == (kind == "asr")]
        track = copy.deepcopy(next((t for t in same_kind if t["languageCode"] == code), same_kind[0]))
        if track["languageCode"] != code:
            name = names[code] + (" (auto-generated)" if kind == "asr" else "")
            track["baseUrl"] = track["baseUrl"].replace(f"&lang={track['languageCode']}&", f"&lang={code}&")
            track.update(
                languageCode=code, name={"runs": [{"text": name}]}, vssId=f"{'a' if kind == 'asr' else ''}.{code}"
            )
        if not translatable:
            track["isTranslatable"] = False
        kept.append(track)
    renderer["captionTracks"] = kept
    if not translatable:
        renderer["translationLanguages"] = []
    return json.dumps(data).encode()


def player_with_status(status: str, reason: str, *, source: str = "youtube_unplayable.innertube.json.static") -> bytes:
    """A recorded unplayable response with another status and reason (private, upcoming live…): YouTube's
    shape, with the words YouTube uses for those cases."""
    data = json.loads(asset(source))
    data["playabilityStatus"]["status"] = status
    data["playabilityStatus"]["reason"] = reason
    data["playabilityStatus"].pop("errorScreen", None)
    return json.dumps(data).encode()


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    proxied_host: str | None  # the host named in a proxy-form request line
    sent: int = 0  # body bytes written before the client hung up or the body ended
    aborted: bool = False


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    chunk: int = 0  # write the body in pieces of this size (0: at once)…
    delay: float = 0.0  # …sleeping this long between them
    length: bool = True  # False: no Content-Length, the body ends when the connection closes
    headers: dict[str, str] = field(default_factory=dict)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    app: LoopbackServer

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _serve(self, head: bool = False) -> None:
        target, proxied_host = self.path, None
        if target.startswith(("http://", "https://")):
            parts = urlsplit(target)
            proxied_host = parts.hostname
            target = parts.path + (f"?{parts.query}" if parts.query else "")
        parts = urlsplit(target)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        seen = Seen(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            proxied_host=proxied_host,
        )
        with self.app.lock:
            self.app.seen.append(seen)
        reply = self.app.reply(seen)
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if reply.length:
            self.send_header("Content-Length", str(len(reply.body)))
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if head:
            return
        step = reply.chunk or len(reply.body) or 1
        try:
            for start in range(0, len(reply.body), step):
                self.wfile.write(reply.body[start : start + step])
                self.wfile.flush()
                seen.sent += len(reply.body[start : start + step])
                if reply.delay and start + step < len(reply.body):
                    time.sleep(reply.delay)
        except (BrokenPipeError, ConnectionResetError):
            seen.aborted = True
            self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        # A client that hangs up mid-request (yt-dlp stopping a download on purpose) is not an error here.
        pass


class LoopbackServer:
    """A threading HTTP server on 127.0.0.1 with a free port; `reply` answers, `seen` records."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        handler = type("Handler", (_Handler,), {"app": self})
        self._server = _Server(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> LoopbackServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def reply(self, seen: Seen) -> Reply:
        raise NotImplementedError


class FakeYouTube(LoopbackServer):
    """See the module docstring. Change the attributes to set the scene for a test."""

    def __init__(self) -> None:
        super().__init__()
        self.players: dict[str, bytes] = {
            SURFACE_GO: asset("youtube.innertube.json.static"),
            GREAT_WAR: asset("youtube_ww1_nl_en.innertube.json.static"),
        }
        # "ok"; "consent": the consent page until the CONSENT cookie comes back; "consent_always";
        # "consent_invalid" (a consent page without the value to answer with); "recaptcha"; or an HTTP status.
        self.watch: str | int = "ok"
        self.player_status = 200
        self.timedtext_status = 200
        self.tracks: dict[tuple[str, str, str], str] = {
            ("en", "", ""): asset("transcript.xml.static").decode(),
            ("en", "asr", ""): AUTO_EN,
            ("de", "", ""): DE,
            ("de", "", "en"): DE_TO_EN,
        }

    def requests_to(self, path: str) -> list[Seen]:
        return [s for s in self.seen if s.path == path]

    def reply(self, seen: Seen) -> Reply:
        if seen.method == "GET" and seen.path == "/watch":
            return self._watch(seen)
        if seen.method == "POST" and seen.path == "/youtubei/v1/player":
            if seen.query.get("key") != [API_KEY]:
                return Reply(403, b'{"error": {"code": 403, "message": "API key not valid"}}', "application/json")
            if self.player_status != 200:
                return Reply(self.player_status, b"{}", "application/json")
            video_id = json.loads(seen.body or b"{}").get("videoId", "")
            body = self.players.get(video_id) or asset("youtube_video_unavailable.innertube.json.static")
            return Reply(200, body, "application/json; charset=UTF-8")
        if seen.method == "GET" and seen.path == "/api/timedtext":
            if self.timedtext_status != 200:
                return Reply(self.timedtext_status, b"")
            key = tuple((seen.query.get(name) or [""])[0] for name in ("lang", "kind", "tlang"))
            document = self.tracks.get(key) or timedtext(*key)
            return Reply(200, document.encode(), "text/xml; charset=UTF-8")
        return Reply(404, b"<h1>404 Not Found</h1>")

    def _watch(self, seen: Seen) -> Reply:
        if isinstance(self.watch, int):
            return Reply(self.watch, b"<html><body>error</body></html>")
        consent = asset("youtube_consent_page.html.static")
        if self.watch == "consent":
            cookies = seen.headers.get("cookie", "")
            answered = f"CONSENT=YES+{CONSENT_VALUE}" in cookies
            return Reply(200, asset(WATCH_PAGE) if answered else consent)
        if self.watch == "consent_always":
            return Reply(200, consent)
        if self.watch == "consent_invalid":
            return Reply(200, asset("youtube_consent_page_invalid.html.static"))
        if self.watch == "recaptcha":
            return Reply(200, asset("youtube_too_many_requests.html.static"))
        return Reply(200, asset(WATCH_PAGE))


class VideoHost(LoopbackServer):
    """Serves `files` (path → Reply); anything else is a 404."""

    def __init__(self, files: dict[str, Reply] | None = None) -> None:
        super().__init__()
        self.files: dict[str, Reply] = dict(files or {})

    def reply(self, seen: Seen) -> Reply:
        return self.files.get(seen.path) or Reply(404, b"<h1>404 Not Found</h1>")
