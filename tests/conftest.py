from __future__ import annotations

import inspect
import os
import re
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest
from django.conf import settings as django_settings

from . import media


@pytest.fixture(scope="session", autouse=True)
def configured_services_reachable():
    """Redis named in the environment must answer: a configured service that is down fails the run."""
    if django_settings.REDIS_URL:
        import redis

        try:
            redis.Redis.from_url(django_settings.REDIS_URL, socket_connect_timeout=3).ping()
        except Exception as exc:  # noqa: BLE001
            pytest.exit(f"REDIS_URL={django_settings.REDIS_URL} is configured but unreachable: {exc}", returncode=3)
    for tool in ("ffmpeg", "ffprobe"):
        if shutil.which(tool) is None:
            pytest.exit(f"{tool} is not installed; run the tests with `make test`.", returncode=3)


@pytest.fixture(scope="session", autouse=True)
def short_lived_connections(django_db_setup, django_db_blocker):
    """Worker threads in tests (engine races, consumers) must not keep connections open past their work,
    or PostgreSQL refuses to drop the test database at the end."""
    from django.db import connections

    connections.settings["default"]["CONN_MAX_AGE"] = 0
    yield
    # Threads that served async views or consumers may still hold a session; PostgreSQL will not drop
    # the test database while any does.
    connection = connections["default"]
    if connection.vendor == "postgresql":
        with django_db_blocker.unblock(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )


@pytest.fixture(autouse=True)
def fresh_channel_layer():
    """Each test gets its own channel layer: channels-redis keeps per-event-loop state (its receive lock and
    count) in the layer object, and pytest-asyncio gives every test a new loop, so a layer that outlived
    its loop must not be handed to the next test."""
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.fixture(autouse=True)
def media_root(tmp_path, settings):
    root = tmp_path / "media"
    settings.MEDIA_ROOT = root
    settings.FILE_UPLOAD_TEMP_DIR = str(root / "incoming")
    Path(settings.FILE_UPLOAD_TEMP_DIR).mkdir(parents=True)
    return root


@pytest.fixture(scope="session")
def sample_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("samples")


@pytest.fixture(scope="session")
def h264_file(sample_dir) -> Path:
    return media.h264_aac(sample_dir / "h264.mp4", seconds=25)


@pytest.fixture(scope="session")
def mpeg4_file(sample_dir) -> Path:
    return media.mpeg4_avi(sample_dir / "mpeg4.avi", seconds=25)


@pytest.fixture
def owner(django_user_model):
    return django_user_model.objects.create_user("alice", "alice@example.com", "alice-pass-1234")


@pytest.fixture
def outsider(django_user_model):
    return django_user_model.objects.create_user("mallory", "mallory@example.com", "mallory-pass-1234")


@pytest.fixture
def alice(client, owner):
    """Django's test client, logged in as the owner."""
    client.force_login(owner)
    return client


@pytest.fixture
def make_task(owner, media_root):
    """A task whose source is a copy of `path`, queued but not enqueued (tests run it in-process).

    transcribe=False for tests about claiming, dispatch, takeover, limits or the admin rather than
    transcripts: speech recognition is most of a small job's time."""
    from jobs.models import ProcessingTask

    def make(path: Path, *, user=None, interval: int = 10, transcribe: bool = True, **fields) -> ProcessingTask:
        params = {"interval": interval} if transcribe else {"interval": interval, "transcribe": False}
        task = ProcessingTask(owner=user or owner, title=path.name, params=params, **fields)
        target = task.workdir() / f"source{path.suffix}"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
        task.source_path = str(target.relative_to(media_root))
        task.source_size = target.stat().st_size
        task.save()
        return task

    return make


@pytest.fixture
def live(transactional_db, media_root):
    """A real daphne + qcluster on the test database and this test's media folder.

    Depends on transactional_db so it is torn down (servers stopped) before the database is flushed.
    """
    from django.db import connection

    from .live import running_stack

    with running_stack(connection.settings_dict, media_root) as stack:
        yield stack


def pytest_configure(config):
    os.environ.setdefault("PLAYWRIGHT_BROWSERS_PATH", "0")
    test_db = django_settings.DATABASES["default"].get("TEST", {}).get("NAME")
    if test_db and django_settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        Path(test_db).parent.mkdir(parents=True, exist_ok=True)


def pytest_unconfigure(config):
    """SQLite leaves -wal/-shm files beside the test database; remove them with it. (This process's metrics
    files are in a folder of its own, which tests/own_dirs.py removes.)"""
    test_db = django_settings.DATABASES["default"].get("TEST", {}).get("NAME")
    if test_db and django_settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(test_db + suffix).unlink(missing_ok=True)


# What a database or Redis backend can change. media_pipeline has no Django in it; a test module that reaches
# none of the packages below (directly or through a tests/ helper) and a test that asks for no database
# exercises media_pipeline alone, and runs the same on every backend.
DJANGO_SIDE = frozenset({"jobs", "streaming", "ops", "api", "repurposer", "django", "channels", "django_q", "daphne"})
DATABASE_FIXTURES = frozenset(
    {"db", "transactional_db", "live", "django_db_reset_sequences", "django_db_serialized_rollback"}
)
# pytest-django's fixtures that reach Django beyond `settings` (which every test has: media_root uses it).
DJANGO_FIXTURES = DATABASE_FIXTURES | {
    "client",
    "async_client",
    "admin_client",
    "admin_user",
    "rf",
    "async_rf",
    "django_user_model",
    "live_server",
}
# An import of the Django side anywhere in a module's source, a function's own imports included.
DJANGO_IMPORT = re.compile(rf"^\s*(?:from|import)\s+(?:{'|'.join(DJANGO_SIDE)})\b", re.M)


def _reaches_django_side(module: ModuleType, seen: set[str]) -> bool:
    if module.__name__ in seen:
        return False
    seen.add(module.__name__)
    try:
        if DJANGO_IMPORT.search(inspect.getsource(module)):
            return True
    except (OSError, TypeError):
        return True  # no source to read: kept, not guessed
    for value in vars(module).values():
        name = value.__name__ if isinstance(value, ModuleType) else getattr(value, "__module__", None)
        if not isinstance(name, str):
            continue
        if name.partition(".")[0] in DJANGO_SIDE:
            return True
        helper = sys.modules.get(name)
        if name.startswith("tests.") and helper is not None and _reaches_django_side(helper, seen):
            return True
    return False


def pytest_collection_modifyitems(config, items):
    """`TEST_SCOPE=backend` (CI's second run, on PostgreSQL + Redis) keeps the tests a backend can change:
    those that use the database, and every test of a module that reaches the Django side. The tests left
    out ran in the first run (SQLite) and do exactly the same work on any backend."""
    scope = os.environ.get("TEST_SCOPE", "all")
    if scope == "all":
        return
    if scope != "backend":
        raise pytest.UsageError(f"TEST_SCOPE={scope}: use all (the default) or backend")
    verdicts: dict[str, bool] = {}
    keep, leave = [], []
    for item in items:
        module = getattr(item, "module", None)
        if module is not None and module.__name__ not in verdicts:
            verdicts[module.__name__] = _reaches_django_side(module, set())
        uses_backend = bool(DJANGO_FIXTURES & set(getattr(item, "fixturenames", ())))
        uses_backend = uses_backend or item.get_closest_marker("django_db") is not None
        (keep if uses_backend or module is None or verdicts[module.__name__] else leave).append(item)
    if leave:
        config.hook.pytest_deselected(items=leave)
        items[:] = keep
