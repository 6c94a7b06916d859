"""A loopback stand-in for the Gemini API's Veo video generation, speaking its wire format:

    POST /v1beta/models/<model>:predictLongRunning   → {"name": "models/<model>/operations/<id>"}
    GET  /v1beta/models/<model>/operations/<id>      → {"name", "done": false} … then done with
                                                       "response" (the video's uri) or "error"
    GET  /v1beta/files/<id>:download?alt=media       → the MP4 (a real one, made once with ffmpeg)

Each submit takes the next scripted behaviour (`fake.script(...)`), else `fake.default`:
"ok" (done after `generation_seconds`), "fail" (done with an error), "never" (never done), "cut" (the
download stops halfway through its Content-Length, once), "empty" (done with no samples), "429" (the submit
is refused with Retry-After: 1, once; the next behaviour applies to the retry). A missing or wrong
x-goog-api-key gets Google's 400 API_KEY_INVALID, echoing the key (our side must never repeat it).
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

SUBMIT = re.compile(r"^/v1beta/models/(?P<model>[^/:]+):predictLongRunning$")
POLL = re.compile(r"^/v1beta/(?P<name>models/[^/]+/operations/[0-9a-f]+)$")
DOWNLOAD = re.compile(r"^/v1beta/files/(?P<id>[0-9a-f]+):download$")


def sample_video(seconds: float = 4, size: str = "640x360") -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "clip.mp4"
        subprocess.run(
            ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=24:duration={seconds}",
             "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-movflags", "+faststart", str(out)],
            check=True, timeout=120,
        )  # fmt: skip
        return out.read_bytes()


@dataclass
class Operation:
    id: str
    model: str
    behaviour: str
    prompt: str
    parameters: dict
    started: float
    polls: int = 0


@dataclass
class FakeVeo:
    api_key: str = "veo-test-key"
    generation_seconds: float = 0.3
    default: str = "ok"
    video: bytes = b""
    operations: dict[str, Operation] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, path)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _script: deque[str] = field(default_factory=deque)

    def __post_init__(self) -> None:
        self.video = self.video or sample_video()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                fake._serve(self)

            def do_GET(self) -> None:
                fake._serve(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1beta"

    def script(self, *behaviours: str) -> None:
        with self.lock:
            self._script.extend(behaviours)

    def __enter__(self) -> FakeVeo:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    # --- serving

    def _reply(self, h: BaseHTTPRequestHandler, code: int, data: object, headers: dict | None = None) -> None:
        body = json.dumps(data).encode()
        h.send_response(code)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(body)

    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        path = h.path.split("?", 1)[0]
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        with self.lock:
            self.requests.append((h.command, path))
        key = h.headers.get("x-goog-api-key", "")
        if key != self.api_key:
            self._reply(h, 400, {"error": {"code": 400, "message": f"API key not valid: {key!r}",
                                            "status": "INVALID_ARGUMENT", "details": [{"reason": "API_KEY_INVALID"}]}})  # fmt: skip
            return
        if h.command == "POST" and (m := SUBMIT.match(path)):
            with self.lock:
                behaviour = self._script.popleft() if self._script else self.default
            if behaviour == "429":
                self._reply(h, 429, {"error": {"code": 429, "status": "RESOURCE_EXHAUSTED"}}, {"Retry-After": "1"})
                return
            body = json.loads(raw or b"{}")
            op = Operation(uuid.uuid4().hex, m["model"], behaviour, body["instances"][0]["prompt"],
                           body.get("parameters", {}), time.monotonic())  # fmt: skip
            with self.lock:
                self.operations[op.id] = op
            self._reply(h, 200, {"name": f"models/{op.model}/operations/{op.id}"})
        elif h.command == "GET" and (m := POLL.match(path)):
            op = self.operations.get(m["name"].rsplit("/", 1)[1])
            if op is None:
                self._reply(h, 404, {"error": {"code": 404, "message": "operation not found"}})
                return
            op.polls += 1
            done = op.behaviour != "never" and time.monotonic() - op.started >= self.generation_seconds
            answer: dict = {"name": m["name"], "done": done}
            if done and op.behaviour == "fail":
                answer["error"] = {"code": 3, "message": "The prompt was flagged by the safety filter."}
            elif done and op.behaviour == "empty":
                answer["response"] = {"generateVideoResponse": {"raiMediaFilteredCount": 1}}
            elif done:
                uri = f"{self.base_url}/files/{op.id}:download?alt=media"
                answer["response"] = {
                    "@type": "type.googleapis.com/google.ai.generativelanguage.v1beta.PredictLongRunningResponse",
                    "generateVideoResponse": {"generatedSamples": [{"video": {"uri": uri}}]},
                }
            self._reply(h, 200, answer)
        elif h.command == "GET" and (m := DOWNLOAD.match(path)):
            op = self.operations.get(m["id"])
            if op is None:
                self._reply(h, 404, {"error": {"code": 404}})
                return
            h.send_response(200)
            h.send_header("Content-Type", "video/mp4")
            h.send_header("Content-Length", str(len(self.video)))
            h.end_headers()
            if op.behaviour == "cut":
                op.behaviour = "ok"  # cut once; the retry gets it whole
                h.wfile.write(self.video[: len(self.video) // 2])
                h.wfile.flush()
                h.close_connection = True
                return
            h.wfile.write(self.video)
        else:
            self._reply(h, 404, {"error": {"code": 404, "message": f"no route {h.command} {path}"}})
