"""Loopback stand-ins for the outside APIs, speaking their real wire formats: a threading HTTP server on
127.0.0.1, port 0. Point a client at `fake.openai_url`, `fake.gemini_url` or `fake.elevenlabs_url`.

    POST /v1/chat/completions                        OpenAI-compatible chat          route "chat"
    POST /v1/audio/speech                            OpenAI-compatible speech (WAV)  route "speech"
    POST /v1beta/models/<model>:generateContent      Gemini                          route "gemini"
    POST /v1/text-to-speech/<voice_id>               ElevenLabs (MP3)                route "elevenlabs"
    POST /api/chat                                   Ollama's own chat API           route "ollama"

Scripting, per route: `fake.script("chat", status(429, retry_after=1), status(500), ok())` queues replies
(first in, first out); when the queue is empty `fake.defaults[route]` answers (`ok()` unless changed).
Replies: `ok()`, `status(code, retry_after=None)` (an error in that API's own format), `slow(seconds)`
(wait, then answer as `ok()`), `garbage()` (200 with a body that is neither JSON nor audio) and `blocked()`
(chat refused by the provider's safety filter). `fake.latency` delays every call.

Also: `api_key` (a wrong or missing key gets that API's own refusal, which echoes the key in full, so tests
can prove our side never repeats it), `unknown_models` (404 model-not-found), `chat_reply(request_json)`
for the assistant's text (`prompt_of()` reads either wire format), and `seconds_per_char` for how long the
speech is. Speech is real audio cut from one tone made once per process with ffmpeg.

Structured output: a chat request that sends a JSON Schema (`schema_of()` finds it in OpenAI's
`response_format`, Gemini's `responseJsonSchema` or Ollama's `format`) gets the 400 the real API would give
when the schema is one it refuses (`schema_errors()`: OpenAI's strict rules for OpenAI); `refuse_schemas`
plays a server without structured output. `answer_errors()` says where a canned answer breaks a schema.

Every request is recorded in `fake.requests` (`Recorded`), with the most in flight at once overall
(`max_in_flight`) and per route (`max_in_flight_by_route`). A hook that raises becomes a 500 and lands in
`fake.errors`, so a test can assert there were none.

Other processes reach it through `fake.url`. `FakeProvidersProcess` runs one in a subprocess
(`python -m tests.fake_providers`) and scripts it over the control routes under /_fake/.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import threading
import time
import traceback
import wave
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

ROUTES = ("chat", "speech", "gemini", "elevenlabs", "ollama")
_PATTERNS = (
    ("chat", re.compile(r"^/v1/chat/completions$")),
    ("speech", re.compile(r"^/v1/audio/speech$")),
    ("gemini", re.compile(r"^/v1beta/models/(?P<model>[^/]+):generateContent$")),
    ("elevenlabs", re.compile(r"^/v1/text-to-speech/(?P<voice>[^/]+)$")),
    ("ollama", re.compile(r"^/api/chat$")),
)
DEFAULT_CHAT_REPLY = {"reply": "A fixed answer from the fake model.", "ok": True}
MIN_SPEECH, MAX_SPEECH = 0.3, 60.0


# --- scripted replies ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scripted:
    kind: str  # "ok" | "status" | "slow" | "garbage" | "blocked"
    status: int = 200
    retry_after: float | str | None = None
    seconds: float = 0.0
    reason: str = "SAFETY"


def ok() -> Scripted:
    return Scripted("ok")


def status(code: int, *, retry_after: float | str | None = None) -> Scripted:
    """An error reply in the route's own format; `retry_after` (seconds or an HTTP date) adds Retry-After."""
    return Scripted("status", status=code, retry_after=retry_after)


def slow(seconds: float) -> Scripted:
    """Wait `seconds` (past a client's timeout, say), then answer as ok()."""
    return Scripted("slow", seconds=seconds)


def garbage() -> Scripted:
    """HTTP 200 with a body that is neither JSON nor audio."""
    return Scripted("garbage")


def blocked(reason: str = "SAFETY") -> Scripted:
    """Chat only: the provider's safety filter withholds the answer (Gemini promptFeedback, OpenAI content_filter)."""
    return Scripted("blocked", reason=reason)


def _scripted_from(data: dict[str, Any]) -> Scripted:
    return Scripted(**{k: v for k, v in data.items() if k in Scripted.__dataclass_fields__})


# --- records -----------------------------------------------------------------------------------------


@dataclass
class Recorded:
    route: str  # one of ROUTES, or "unknown"
    method: str
    path: str  # without the query string
    query: dict[str, list[str]]
    json: Any  # the parsed body (None when it was not JSON)
    headers: dict[str, str]  # lower-case names
    start: float  # time.monotonic() once the request was read (system-wide on Linux: comparable across processes)
    wall: float  # time.time() at the same moment
    end: float = 0.0  # time.monotonic() once the reply was written (or the client had gone)
    status: int = 0
    model: str = ""  # the chat model asked for
    voice: str = ""  # the speech voice asked for
    text: str = ""  # the text to speak


def prompt_of(request_json: dict[str, Any]) -> tuple[str, str]:
    """(system, user) text from an OpenAI chat or a Gemini generateContent request body."""
    if "messages" in request_json:
        by_role: dict[str, list[str]] = {}
        for message in request_json.get("messages") or []:
            content = message.get("content")
            if isinstance(content, list):  # the "parts" form: [{"type": "text", "text": ...}]
                content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
            by_role.setdefault(message.get("role", ""), []).append(content or "")
        return "\n".join(by_role.get("system", [])), "\n".join(by_role.get("user", []))

    def texts(node: Any) -> str:
        return "".join(p.get("text", "") for p in (node or {}).get("parts", []) if isinstance(p, dict))

    system = texts(request_json.get("systemInstruction") or request_json.get("system_instruction"))
    user = "\n".join(texts(c) for c in request_json.get("contents") or [] if c.get("role", "user") == "user")
    return system, user


def schema_of(request_json: dict[str, Any]) -> dict[str, Any] | None:
    """The JSON Schema a chat request asks its answer to follow (structured output), or None: OpenAI's
    `response_format: {"type": "json_schema", "json_schema": {"schema": …}}`, Gemini's
    `generationConfig.responseJsonSchema`, or Ollama's `format` when it is a schema."""
    rf = request_json.get("response_format")
    if isinstance(rf, dict) and rf.get("type") == "json_schema":
        return (rf.get("json_schema") or {}).get("schema")
    config = request_json.get("generationConfig")
    if isinstance(config, dict) and isinstance(config.get("responseJsonSchema"), dict):
        return config["responseJsonSchema"]
    if isinstance(request_json.get("format"), dict):
        return request_json["format"]
    return None


_SCHEMA_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_SCHEMA_TYPES = frozenset({"object", "array", "string", "number", "integer", "boolean", "null"})


def schema_errors(schema: Any, *, strict: bool, path: str = "schema") -> list[str]:
    """What OpenAI's strict structured output (or a plainer provider, strict=False) would refuse in
    `schema`: an unknown type, an object without properties, and in strict mode an object that allows other
    properties or leaves one out of `required`."""
    if not isinstance(schema, dict):
        return [f"{path} is not an object"]
    kind = schema.get("type")
    if kind not in _SCHEMA_TYPES:
        return [f"{path} has no valid type ({kind!r})"]
    errors = []
    if kind == "object":
        props = schema.get("properties")
        if not isinstance(props, dict) or not props:
            return [f"{path} is an object without properties"]
        if strict and schema.get("additionalProperties") is not False:
            errors.append(f"{path}: additionalProperties must be false")
        if strict and sorted(schema.get("required") or []) != sorted(props):
            errors.append(f"{path}: every property must be required")
        for name, sub in props.items():
            errors += schema_errors(sub, strict=strict, path=f"{path}.{name}")
    if kind == "array":
        errors += schema_errors(schema.get("items"), strict=strict, path=f"{path}[]")
    return errors


def answer_errors(value: Any, schema: dict[str, Any], path: str = "answer") -> list[str]:
    """Where `value` breaks `schema` (types, required and extra properties): what a provider's constrained
    decoder would never produce."""
    kind = schema.get("type")
    ok = {
        "object": isinstance(value, dict),
        "array": isinstance(value, list),
        "string": isinstance(value, str),
        "number": isinstance(value, (int, float)) and not isinstance(value, bool),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "boolean": isinstance(value, bool),
        "null": value is None,
    }.get(str(kind), False)
    if not ok:
        return [f"{path} is not {kind}"]
    errors = []
    if kind == "object":
        props = schema.get("properties") or {}
        errors += [f"{path}.{k} is missing" for k in schema.get("required") or [] if k not in value]
        if schema.get("additionalProperties") is False:
            errors += [f"{path}.{k} is not allowed" for k in value if k not in props]
        for k, sub in props.items():
            if k in value:
                errors += answer_errors(value[k], sub, f"{path}.{k}")
    if kind == "array":
        for i, item in enumerate(value):
            errors += answer_errors(item, schema.get("items") or {}, f"{path}[{i}]")
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path} is not one of {schema['enum']}")
    return errors


def default_chat_reply(request_json: dict[str, Any]) -> str:
    return json.dumps(DEFAULT_CHAT_REPLY)


# --- audio made once per process ----------------------------------------------------------------------

_audio_lock = threading.Lock()
_audio: dict[str, Any] = {}
MP3_FRAME_SECONDS = 1152 / 44100
WAV_RATE = 24000
BASE_SECONDS = 60


def _ffmpeg_bytes(*args: str) -> bytes:
    return subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", *args, "pipe:1"], check=True, capture_output=True, timeout=120
    ).stdout


def _mp3_frames(data: bytes) -> list[int]:
    """Start offsets of the MPEG-1 Layer III frames in `data` (CBR, no ID3, no Xing: as made below)."""
    rates = [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320]
    sample_rates = [44100, 48000, 32000]
    offsets, pos = [], 0
    while pos + 4 <= len(data):
        b1, b2 = data[pos + 1], data[pos + 2]
        if data[pos] != 0xFF or (b1 & 0xFE) != 0xFA:
            raise ValueError(f"no MP3 frame at {pos}")
        length = 144000 * rates[b2 >> 4] // sample_rates[(b2 >> 2) & 3] + ((b2 >> 1) & 1)
        offsets.append(pos)
        pos += length
    return offsets


def _base_audio() -> dict[str, Any]:
    """A one-minute tone as 24 kHz s16 PCM (for WAV) and as 128k MP3 frames (for ElevenLabs). The MP3 is
    made without the bit reservoir so any run of whole frames decodes on its own."""
    with _audio_lock:
        if not _audio:
            tone = "sine=frequency=220:sample_rate={rate},volume=0.5"
            _audio["pcm"] = _ffmpeg_bytes(
                "-f",
                "lavfi",
                "-i",
                tone.format(rate=WAV_RATE),
                "-t",
                str(BASE_SECONDS),
                "-ac",
                "1",
                "-f",
                "s16le",
                "-c:a",
                "pcm_s16le",
            )
            mp3 = _ffmpeg_bytes(
                "-f",
                "lavfi",
                "-i",
                tone.format(rate=44100),
                "-t",
                str(BASE_SECONDS),
                "-ac",
                "1",
                "-c:a",
                "libmp3lame",
                "-b:a",
                "128k",
                "-reservoir",
                "0",
                "-write_xing",
                "0",
                "-id3v2_version",
                "0",
                "-f",
                "mp3",
            )
            _audio["mp3"] = mp3
            _audio["mp3_frames"] = _mp3_frames(mp3) + [len(mp3)]
        return _audio


def wav_audio(seconds: float) -> bytes:
    """`seconds` of the tone as a WAV file (pcm_s16le mono 24 kHz), like OpenAI's response_format "wav"."""
    pcm = _base_audio()["pcm"]
    samples = max(1, min(int(seconds * WAV_RATE), len(pcm) // 2))
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(WAV_RATE)
        wav.writeframes(pcm[: samples * 2])
    return buffer.getvalue()


def mp3_audio(seconds: float) -> bytes:
    """About `seconds` of the tone as MP3 (whole frames), like ElevenLabs' mp3_44100_128."""
    audio = _base_audio()
    frames = audio["mp3_frames"]
    count = max(2, min(round(seconds / MP3_FRAME_SECONDS), len(frames) - 1))
    return audio["mp3"][: frames[count]]


# --- the server ---------------------------------------------------------------------------------------


@dataclass
class _Reply:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def _json_reply(code: int, data: Any, headers: dict[str, str] | None = None) -> _Reply:
    return _Reply(code, json.dumps(data).encode(), "application/json", dict(headers or {}))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake: FakeProviders

    def do_POST(self) -> None:
        self._serve()

    def do_GET(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if parts.path.startswith("/_fake/"):
            self._send(self.fake._control(self.command, parts.path, body))
            return
        self.fake._handle(self, parts.path, parse_qs(parts.query, keep_blank_values=True), body)

    def _send(self, reply: _Reply) -> bool:
        """Write `reply`; False when the client had already gone (it timed out on a slow reply)."""
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            # Headers and body in one write: two small writes on a kept-alive connection meet the
            # client's delayed ACK and cost ~40 ms per call, which would blur latency figures.
            self._headers_buffer.append(b"\r\n")
            self.wfile.write(b"".join(self._headers_buffer) + reply.body)
            self._headers_buffer = []
            self.wfile.flush()
            return True
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
            return False


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128  # the default 5 drops connections when a test opens a dozen at once

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that hangs up is not an error here


class _Addresses:
    """Where each API lives on a fake whose root is `self.url`."""

    url: str

    @property
    def openai_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def gemini_url(self) -> str:
        return f"{self.url}/v1beta"

    @property
    def elevenlabs_url(self) -> str:
        return self.url

    def settings(self, *, api_key: str = "", **more: object) -> dict[str, object]:
        """Settings that point every provider in the registries at this fake, each with `api_key`."""
        return {
            "OPENAI_BASE_URL": self.openai_url,
            "OPENAI_API_KEY": api_key,
            "GEMINI_BASE_URL": self.gemini_url,
            "GEMINI_API_KEY": api_key,
            "ELEVENLABS_BASE_URL": self.elevenlabs_url,
            "ELEVENLABS_API_KEY": api_key,
            "OLLAMA_BASE_URL": self.url,
            **more,
        }


class FakeProviders(_Addresses):
    """See the module docstring. Use as a context manager, or call start() and stop()."""

    def __init__(
        self, *, api_key: str | None = None, latency: float = 0.0, seconds_per_char: float = 0.06, port: int = 0
    ) -> None:
        self.api_key = api_key
        self.latency = latency
        self.seconds_per_char = seconds_per_char
        self.chat_reply: Callable[[dict[str, Any]], str] = default_chat_reply
        self.unknown_models: set[str] = set()
        # A server without structured output (an older vLLM or llama.cpp): a json_schema request gets a 400.
        self.refuse_schemas = False
        self.defaults: dict[str, Scripted] = {route: ok() for route in ROUTES}
        self.requests: list[Recorded] = []
        self.errors: list[str] = []
        self.max_in_flight = 0
        self.max_in_flight_by_route: dict[str, int] = {route: 0 for route in ROUTES}
        self.lock = threading.Lock()
        self._scripts: dict[str, deque[Scripted]] = {route: deque() for route in ROUTES}
        self._in_flight = 0
        self._in_flight_by_route: dict[str, int] = {route: 0 for route in ROUTES}
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = _Server(("127.0.0.1", port), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    # --- addresses and lifecycle

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeProviders:
        _base_audio()  # make the audio before the first request, so its time never counts as latency
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeProviders:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- scripting and reading the records

    def script(self, route: str, *replies: Scripted) -> None:
        if route not in ROUTES:
            raise ValueError(f"unknown route {route!r}; expected one of {ROUTES}")
        with self.lock:
            self._scripts[route].extend(replies)

    def pending(self, route: str) -> int:
        """Scripted replies not used yet."""
        with self.lock:
            return len(self._scripts[route])

    def requests_to(self, route: str) -> list[Recorded]:
        with self.lock:
            return [r for r in self.requests if r.route == route]

    def reset(self) -> None:
        """Forget requests, scripts and maxima (not the settings)."""
        with self.lock:
            self.requests.clear()
            self.errors.clear()
            for queue in self._scripts.values():
                queue.clear()
            self.max_in_flight = max(0, self._in_flight)
            self.max_in_flight_by_route = dict(self._in_flight_by_route)

    # --- serving

    def _next(self, route: str) -> Scripted:
        with self.lock:
            queue = self._scripts[route]
            return queue.popleft() if queue else self.defaults[route]

    def _handle(self, handler: _Handler, path: str, query: dict[str, list[str]], body: bytes) -> None:
        route, match = "unknown", None
        for name, pattern in _PATTERNS:
            match = pattern.match(path)
            if match and handler.command == "POST":
                route = name
                break
        try:
            data = json.loads(body) if body else None
        except ValueError:
            data = None
        record = Recorded(
            route=route,
            method=handler.command,
            path=path,
            query=query,
            json=data,
            headers={k.lower(): v for k, v in handler.headers.items()},
            start=time.monotonic(),
            wall=time.time(),
        )
        if route in ("chat", "speech", "ollama") and isinstance(data, dict):
            record.model = str(data.get("model", ""))
        if route == "gemini" and match:
            record.model = unquote(match.group("model"))
        if route == "speech" and isinstance(data, dict):
            record.voice, record.text = str(data.get("voice", "")), str(data.get("input", ""))
        if route == "elevenlabs" and match and isinstance(data, dict):
            record.voice, record.text = unquote(match.group("voice")), str(data.get("text", ""))
        with self.lock:
            self.requests.append(record)
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
            if route in ROUTES:
                self._in_flight_by_route[route] += 1
                self.max_in_flight_by_route[route] = max(
                    self.max_in_flight_by_route[route], self._in_flight_by_route[route]
                )
        try:
            try:
                reply = self._reply(route, record, data)
            except Exception:  # noqa: BLE001 - a broken test hook must show, not hang the client
                with self.lock:
                    self.errors.append(traceback.format_exc())
                reply = _json_reply(500, {"error": {"message": "the fake's hook raised", "type": "server_error"}})
            record.status = reply.status
            handler._send(reply)
        finally:
            record.end = time.monotonic()
            with self.lock:
                self._in_flight -= 1
                if route in ROUTES:
                    self._in_flight_by_route[route] -= 1

    def _reply(self, route: str, record: Recorded, data: Any) -> _Reply:
        if route == "unknown":
            return _json_reply(404, {"error": {"message": f"no route {record.method} {record.path}"}})
        if self.latency:
            time.sleep(self.latency)
        refusal = self._check_key(route, record)
        if refusal is not None:
            return refusal
        if not isinstance(data, dict):
            return self._error(route, 400, record, "the request body is not a JSON object")
        if record.model and record.model in self.unknown_models:
            return self._error(route, 404, record)
        refused = self._check_schema(route, record, data)
        if refused is not None:
            return refused
        scripted = self._next(route)
        if scripted.kind == "slow":
            time.sleep(scripted.seconds)
            scripted = ok()
        if scripted.kind == "status":
            reply = self._error(route, scripted.status, record)
            if scripted.retry_after is not None:
                reply.headers["Retry-After"] = str(scripted.retry_after)
            return reply
        if scripted.kind == "garbage":
            kind = "audio/mpeg" if route == "elevenlabs" else "audio/wav" if route == "speech" else "application/json"
            return _Reply(200, b"<html><body>Service temporarily unavailable</body></html>{", kind)
        if scripted.kind == "blocked":
            return self._blocked(route, record, scripted.reason)
        return self._ok(route, record, data)

    def _check_schema(self, route: str, record: Recorded, data: dict[str, Any]) -> _Reply | None:
        """A structured-output request the real API would refuse gets that API's 400."""
        schema = schema_of(data)
        if route not in ("chat", "gemini", "ollama") or schema is None:
            return None
        if route == "chat" and self.refuse_schemas:
            return self._error(route, 400, record, "response_format json_schema is not supported by this server")
        rf = data.get("response_format") or {}
        spec = rf.get("json_schema") or {}
        strict = route == "chat" and "response_format" in data and bool(spec.get("strict"))
        errors = schema_errors(schema, strict=strict)
        if route == "chat" and "response_format" in data and not _SCHEMA_NAME.match(str(spec.get("name", ""))):
            errors.append("json_schema.name must be 1-64 letters, digits, _ or -")
        if errors:
            return self._error(route, 400, record, "Invalid schema for response_format: " + "; ".join(errors))
        return None

    def _check_key(self, route: str, record: Recorded) -> _Reply | None:
        if self.api_key is None or route == "ollama":  # a local Ollama has no keys
            return None
        headers = record.headers
        if route in ("chat", "speech"):
            given = headers.get("authorization", "").removeprefix("Bearer ")
        elif route == "gemini":
            given = headers.get("x-goog-api-key", "") or (record.query.get("key") or [""])[0]
        else:
            given = headers.get("xi-api-key", "")
        if given == self.api_key:
            return None
        if route == "gemini":  # Gemini answers a bad key with 400 INVALID_ARGUMENT, not 401
            return _json_reply(
                400,
                {
                    "error": {
                        "code": 400,
                        "message": f"API key not valid. Please pass a valid API key. (got {given})",
                        "status": "INVALID_ARGUMENT",
                        "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}],
                    }
                },
            )
        return self._error(route, 401, record, f"Incorrect API key provided: {given}.")

    def _error(self, route: str, code: int, record: Recorded, message: str = "") -> _Reply:
        """An error body the way each API writes one."""
        if route in ("chat", "speech"):
            kinds = {
                401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
                403: ("invalid_request_error", "unsupported_country_region_territory", "Country not supported."),
                404: (
                    "invalid_request_error",
                    "model_not_found",
                    f"The model `{record.model}` does not exist or you do not have access to it.",
                ),
                429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests."),
            }
            kind, code_name, text = kinds.get(
                code, ("server_error" if code >= 500 else "invalid_request_error", None, f"HTTP {code}")
            )
            return _json_reply(
                code, {"error": {"message": message or text, "type": kind, "param": None, "code": code_name}}
            )
        if route == "gemini":
            statuses = {
                400: "INVALID_ARGUMENT",
                401: "UNAUTHENTICATED",
                403: "PERMISSION_DENIED",
                404: "NOT_FOUND",
                429: "RESOURCE_EXHAUSTED",
                503: "UNAVAILABLE",
            }
            text = message or (
                f"models/{record.model} is not found for API version v1beta" if code == 404 else f"HTTP {code}"
            )
            return _json_reply(
                code, {"error": {"code": code, "message": text, "status": statuses.get(code, "INTERNAL")}}
            )
        if route == "ollama":  # Ollama writes {"error": "<sentence>"}
            text = message or (f"model '{record.model}' not found" if code == 404 else f"HTTP {code}")
            return _json_reply(code, {"error": text})
        if code == 422:
            return _json_reply(422, {"detail": [{"loc": ["body", "text"], "msg": "field required", "type": "missing"}]})
        names = {401: "invalid_api_key", 404: "voice_not_found", 429: "too_many_concurrent_requests"}
        return _json_reply(
            code, {"detail": {"status": names.get(code, "internal_error"), "message": message or f"HTTP {code}"}}
        )

    def _blocked(self, route: str, record: Recorded, reason: str) -> _Reply:
        if route == "gemini":
            return _json_reply(
                200, {"promptFeedback": {"blockReason": reason}, "usageMetadata": {"promptTokenCount": 9}}
            )
        if route == "chat":
            return _json_reply(
                200,
                {
                    "id": "chatcmpl-fake-blocked",
                    "object": "chat.completion",
                    "model": record.model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": None},
                            "finish_reason": "content_filter",
                        }
                    ],
                },
            )
        return self._error(route, 400, record, f"blocked: {reason}")

    def _ok(self, route: str, record: Recorded, data: dict[str, Any]) -> _Reply:
        if route in ("speech", "elevenlabs"):
            seconds = min(MAX_SPEECH, max(MIN_SPEECH, len(record.text) * self.seconds_per_char))
            if route == "speech":
                return _Reply(200, wav_audio(seconds), "audio/wav")
            return _Reply(200, mp3_audio(seconds), "audio/mpeg")
        content = self.chat_reply(data)
        if not isinstance(content, str):  # a hook that returns the object itself: send it as JSON text
            content = json.dumps(content)
        system, user = prompt_of(data)
        prompt_tokens, completion_tokens = max(1, len(system + user) // 4), max(1, len(content) // 4)
        if route == "ollama":
            return _json_reply(
                200,
                {
                    "model": record.model,
                    "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "message": {"role": "assistant", "content": content},
                    "done": True,
                    "done_reason": "stop",
                    "prompt_eval_count": prompt_tokens,
                    "eval_count": completion_tokens,
                },
            )
        if route == "chat":
            return _json_reply(
                200,
                {
                    "id": f"chatcmpl-fake-{len(self.requests)}",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": record.model,
                    "choices": [
                        {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
                    ],
                    "usage": {
                        "prompt_tokens": prompt_tokens,
                        "completion_tokens": completion_tokens,
                        "total_tokens": prompt_tokens + completion_tokens,
                    },
                },
            )
        return _json_reply(
            200,
            {
                "candidates": [
                    {"content": {"parts": [{"text": content}], "role": "model"}, "finishReason": "STOP", "index": 0}
                ],
                "usageMetadata": {
                    "promptTokenCount": prompt_tokens,
                    "candidatesTokenCount": completion_tokens,
                    "totalTokenCount": prompt_tokens + completion_tokens,
                },
                "modelVersion": record.model,
            },
        )

    # --- control routes, for a fake in another process

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                "count": len(self.requests),
                "max_in_flight": self.max_in_flight,
                "max_in_flight_by_route": dict(self.max_in_flight_by_route),
                "errors": list(self.errors),
            }

    def _control(self, method: str, path: str, body: bytes) -> _Reply:
        data = json.loads(body) if body else {}
        if method == "GET" and path == "/_fake/requests":
            with self.lock:
                return _json_reply(200, [asdict(r) for r in self.requests])
        if method == "GET" and path == "/_fake/stats":
            return _json_reply(200, self.stats())
        if method == "POST" and path == "/_fake/script":
            self.script(data["route"], *(_scripted_from(r) for r in data.get("replies", [])))
            return _json_reply(200, {"ok": True})
        if method == "POST" and path == "/_fake/config":
            for name in ("latency", "seconds_per_char", "api_key"):
                if name in data:
                    setattr(self, name, data[name])
            if "unknown_models" in data:
                self.unknown_models = set(data["unknown_models"])
            for route, reply in (data.get("defaults") or {}).items():
                self.defaults[route] = _scripted_from(reply)
            if "chat_reply" in data:  # a fixed text in this mode: functions do not cross processes
                text = str(data["chat_reply"])
                self.chat_reply = lambda _request: text
            return _json_reply(200, {"ok": True})
        if method == "POST" and path == "/_fake/reset":
            self.reset()
            return _json_reply(200, {"ok": True})
        return _json_reply(404, {"error": "unknown control route"})


class FakeProvidersProcess(_Addresses):
    """A FakeProviders in its own process, scripted over HTTP: for tests whose own process is busy, or
    servers started elsewhere. Same addresses; `script`, `configure`, `requests`, `stats`, `reset`."""

    def __init__(self, *, api_key: str | None = None, latency: float = 0.0) -> None:
        self._argv = [sys.executable, "-m", "tests.fake_providers", "--latency", str(latency)]
        if api_key is not None:
            self._argv += ["--api-key", api_key]
        self._proc: subprocess.Popen[str] | None = None
        self.url = ""

    def __enter__(self) -> FakeProvidersProcess:
        root = Path(__file__).resolve().parent.parent
        self._proc = subprocess.Popen(
            self._argv, cwd=root, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True, start_new_session=True
        )
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline().strip()
        if not line.startswith("http://"):
            self._proc.kill()
            raise RuntimeError(f"the fake providers process did not start: {line!r}")
        self.url = line
        return self

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=5)

    def _call(self, method: str, path: str, data: Any = None) -> Any:
        import httpx

        response = httpx.request(method, f"{self.url}/_fake/{path}", json=data, timeout=10)
        response.raise_for_status()
        return response.json()

    def script(self, route: str, *replies: Scripted) -> None:
        self._call("POST", "script", {"route": route, "replies": [asdict(r) for r in replies]})

    def configure(self, **settings: Any) -> None:
        """latency, seconds_per_char, api_key, unknown_models, defaults={route: Scripted}, chat_reply (a text)."""
        if "defaults" in settings:
            settings["defaults"] = {k: asdict(v) for k, v in settings["defaults"].items()}
        if "unknown_models" in settings:
            settings["unknown_models"] = sorted(settings["unknown_models"])
        self._call("POST", "config", settings)

    def requests(self) -> list[Recorded]:
        return [Recorded(**r) for r in self._call("GET", "requests")]

    def stats(self) -> dict[str, Any]:
        return self._call("GET", "stats")

    def reset(self) -> None:
        self._call("POST", "reset")


def main(argv: list[str]) -> None:
    import argparse
    import signal

    parser = argparse.ArgumentParser(description="Loopback fake LLM and TTS providers.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--api-key", default=None)
    args = parser.parse_args(argv)
    fake = FakeProviders(api_key=args.api_key, latency=args.latency, port=args.port).start()
    print(fake.url, flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    fake.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
