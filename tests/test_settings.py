"""Settings fail loudly on bad values; the queue settings are checked at start-up."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from repurposer.apps import check_queue_settings
from repurposer.settings import envbool, envint


def test_envint_reads_numbers_and_refuses_nonsense(monkeypatch):
    monkeypatch.setenv("X_INT", "12")
    assert envint("X_INT", 1) == 12
    monkeypatch.setenv("X_INT", "twelve")
    with pytest.raises(ImproperlyConfigured, match="X_INT='twelve' is not a whole number"):
        envint("X_INT", 1)
    monkeypatch.setenv("X_INT", "0")
    with pytest.raises(ImproperlyConfigured, match="below the minimum of 1"):
        envint("X_INT", 5, minimum=1)
    monkeypatch.delenv("X_INT")
    assert envint("X_INT", 5) == 5


def test_envbool_refuses_what_is_not_a_boolean(monkeypatch):
    monkeypatch.setenv("X_BOOL", "yes")
    assert envbool("X_BOOL", False) is True
    monkeypatch.setenv("X_BOOL", "maybe")
    with pytest.raises(ImproperlyConfigured, match="is not a boolean"):
        envbool("X_BOOL", False)


def test_retry_must_be_longer_than_timeout(settings):
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "timeout": 600, "retry": 600}
    errors = check_queue_settings(None)
    assert [e.id for e in errors] == ["repurposer.E001"]
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "retry": 700}
    assert check_queue_settings(None) == []


def test_sqlite_runs_in_wal_mode_with_immediate_transactions(settings, db):
    from django.db import connection

    if connection.vendor != "sqlite":
        pytest.skip("embedded-mode check; this run is on " + connection.vendor)
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        assert cursor.fetchone()[0] == "wal"
    assert connection.settings_dict["OPTIONS"]["transaction_mode"] == "IMMEDIATE"


def test_every_setting_a_provider_reads_is_defined(settings):
    from media_pipeline.llm import CHAT_PROVIDERS
    from media_pipeline.tts import SPEECH_PROVIDERS

    for spec in (*SPEECH_PROVIDERS.values(), *CHAT_PROVIDERS.values()):
        missing = [name for name in spec.settings if not hasattr(settings, name)]
        assert missing == [], f"{spec.name} reads {missing}, which repurposer/settings.py does not define"


def test_the_page_offers_the_configured_providers_voices(settings):
    from repurposer.forms import voice_choices

    settings.TTS_PROVIDER, settings.ELEVENLABS_VOICES = "elevenlabs", "Rachel=21m00Tcm4TlvDq8ikWAM, Adam = pNInz6"
    assert voice_choices() == [("21m00Tcm4TlvDq8ikWAM", "Rachel"), ("pNInz6", "Adam")]
    settings.TTS_PROVIDER = "espeak"
    assert voice_choices()[0] == ("en-us", "American English, male")


def test_the_runs_metrics_land_in_a_folder_of_its_own(settings, tmp_path):
    """tests/own_dirs.py gives this pytest process its own metrics folder, so a `make run` in the same
    checkout (which wipes var/metrics) cannot delete the files the metrics tests read; a process the tests
    start inherits it."""
    import subprocess
    import sys

    from ops import metrics

    from . import own_dirs

    own = own_dirs.METRICS_DIR
    assert settings.METRICS_DIR == own and os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(own)
    assert not own.is_relative_to(settings.VAR_DIR), "not var/metrics, which `manage.py serve` wipes"
    metrics.observe_stage("own-dirs-test", 0.01)  # this process's files exist from here on, whatever ran before
    assert list(own.glob(f"*_{os.getpid()}.db")), sorted(p.name for p in own.iterdir())
    # A child started without an explicit environment records into the same folder.
    child = subprocess.run(
        [sys.executable, "-c", "import os; from ops import metrics; metrics.count_event('own'); print(os.getpid())"],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert list(own.glob(f"*_{int(child.stdout)}.db")), child.stderr
    assert metrics.current("repurposer_events") >= 1, "a scrape adds up the child's numbers too"
