from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, register


class RepurposerConfig(AppConfig):
    name = "repurposer"

    def ready(self) -> None:
        Path(settings.FILE_UPLOAD_TEMP_DIR).mkdir(parents=True, exist_ok=True)
        Path(settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)  # WhiteNoise warns when it is missing


@register(Tags.compatibility, deploy=False)
def check_queue_settings(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    """django-q2 hands a job out again after `retry` seconds: if that is not longer than `timeout`, a job
    that is still legitimately running would be started a second time."""
    q = settings.Q_CLUSTER
    if q.get("retry", 0) <= q.get("timeout", 0):
        return [
            Error(
                f"Q_CLUSTER retry ({q.get('retry')}) must be longer than timeout ({q.get('timeout')}).",
                hint="Set Q_RETRY above twice JOB_TIMEOUT (a queue job may run tasks for that long), e.g. 2 × JOB_TIMEOUT + 600.",
                id="repurposer.E001",
            )
        ]
    return []
