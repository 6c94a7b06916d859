"""Webhooks: when a task or a batch that carries a `webhook_url` ends, a signed JSON summary is POSTed there.

1. `task_ended(task_id)` runs once the transaction that ended a task has committed (reporter.emit's hook, so
   every way a task ends passes here). It records a WebhookDelivery for the task if it carries a URL, and one
   for each batch of the task's that has now ended, and queues each one's first attempt. The unique
   (event, task|batch) constraints make a second notice of the same end a no-op.
2. `deliver_due()` makes one attempt of each delivery that is due, each claimed with one conditional UPDATE
   (two workers never make the same attempt), and records it as a WebhookAttempt row. A failure leaves the
   delivery pending with `next_attempt_at` pushed out, doubling each time (WEBHOOK_RETRY_SECONDS). It runs in
   a django-q job queued with the delivery, and in the job engine's worker after each task it ran
   (engine.run_next): a busy worker goes from task to task without returning to the queue, and the
   webhook of the task it just finished must not wait for the queue to empty.
3. `resend_due()` runs in the every-minute sweep (jobs.tasks.requeue_stale): when retries are due (or an
   attempt's worker died and its lease ran out) it queues a sending job.

Safety: only http(s), no credentials in the URL, at most 2000 characters; the host's addresses must all be
public (checked when the URL is submitted and again before each attempt, since DNS may change) unless
WEBHOOK_ALLOW_PRIVATE; the attempt connects to the address that was checked, not to a second lookup; no
redirects are followed, no proxy from the environment is used, and only the first 500 bytes of an answer
are read and kept. The signing secret is never logged.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
import time
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, QuerySet
from django.urls import reverse
from django.utils import timezone
from django_q.tasks import async_task

from .models import Batch, ProcessingTask, WebhookAttempt, WebhookDelivery, WebhookSecret

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

log = logging.getLogger(__name__)

MAX_URL_LENGTH = 2000
EXCERPT_BYTES = 500
SIGNATURE_HEADER = "X-Repurposer-Signature"
TIMESTAMP_HEADER = "X-Repurposer-Timestamp"
# A claimed attempt owns its delivery this long; past it the delivery is due again (its worker died).
LEASE = timedelta(minutes=5)
# Attempts one pass makes (a job worker between two tasks makes at most this many: each may take up to
# WEBHOOK_TIMEOUT per phase, and video work waits meanwhile).
MAX_PER_PASS = 5

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class Refused(Exception):
    """The webhook URL may not be used; `message` says why, as a sentence."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# --- the URL ----------------------------------------------------------------------------------------------


def check_url(url: str) -> str:
    """The URL, stripped, if a webhook may be sent there; Refused with a sentence otherwise. Resolves the host."""
    url = url.strip()
    if len(url) > MAX_URL_LENGTH:
        raise Refused(f"The webhook URL is {len(url)} characters long; the limit is {MAX_URL_LENGTH}.")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise Refused("The webhook URL must start with http:// or https://.")
    if "@" in parts.netloc:
        raise Refused("The webhook URL must not carry a user name or password; check the signature instead.")
    if not parts.hostname:
        raise Refused("The webhook URL has no host name.")
    try:
        parts.port  # noqa: B018 (reading it is the check)
    except ValueError:
        raise Refused("The webhook URL's port is not a number between 0 and 65535.") from None
    public_address(parts.hostname, _port(url))
    return url


def _port(url: str) -> int:
    parts = urlsplit(url)
    return parts.port or (443 if parts.scheme == "https" else 80)


def _kind(ip: IPAddress) -> str:
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_private:
        return "a private address"
    return "not a public address"


def public_address(host: str, port: int) -> IPAddress:
    """The address to connect to for `host`: its first one, once every one it resolves to is public (one
    private answer among public ones is refused too: the connection must not be steerable). Refused otherwise."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise Refused(f"The webhook host {host} could not be found; check the URL.") from None
    addresses: list[IPAddress] = []
    for info in infos:
        ip = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        addresses.append(ip)
    if not addresses:
        raise Refused(f"The webhook host {host} could not be found; check the URL.")
    if not settings.WEBHOOK_ALLOW_PRIVATE:
        for ip in addresses:
            if not ip.is_global or ip.is_multicast:
                raise Refused(
                    f"The webhook host {host} resolves to {ip}, {_kind(ip)}; webhooks are only sent to public "
                    "addresses."
                )
    return addresses[0]


# --- the secret -------------------------------------------------------------------------------------------


def _new_value() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def new_secret(owner: AbstractBaseUser) -> str:
    """Make (or replace) the owner's signing secret and return it: the only time it is shown. The old one
    stops working at once."""
    secret = _new_value()
    WebhookSecret.objects.update_or_create(owner_id=owner.pk, defaults={"secret": secret, "created_at": timezone.now()})
    return secret


def secret_on_first_need(owner: AbstractBaseUser) -> str | None:
    """The owner's new secret if they had none (a webhook is being asked for: show it with the answer), else None."""
    if WebhookSecret.objects.filter(owner_id=owner.pk).exists():
        return None
    try:
        with transaction.atomic():
            secret = _new_value()
            WebhookSecret.objects.create(owner_id=owner.pk, secret=secret)
    except IntegrityError:
        return None  # another request made it first; that one showed it
    return secret


def _secret_of(owner_id: Any) -> str:
    """The owner's secret; made now if they have none (a task an operator made): they rotate it to learn it."""
    row, _ = WebhookSecret.objects.get_or_create(owner_id=owner_id, defaults={"secret": _new_value()})
    return row.secret


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The X-Repurposer-Signature value: "sha256=" + hex HMAC-SHA256 of `<timestamp>.<body>` under the secret."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


# --- what is sent -----------------------------------------------------------------------------------------


def _link(path: str) -> str:
    return settings.SITE_URL + path


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    return round((end - start).total_seconds(), 1) if start and end else None


def task_links(task: ProcessingTask) -> dict[str, str]:
    links = {"watch": _link(reverse("watch", args=[task.pk])), "api": _link(reverse("api-task", args=[task.pk]))}
    if task.status == ProcessingTask.Status.SUCCEEDED:
        if task.result.get("final"):
            links["final_video"] = _link(reverse("task-media", args=[task.pk, task.result["final"]]))
        for fmt in ("json", "md", "zip"):
            links[f"export_{fmt}"] = _link(reverse("export", args=[str(task.pk), fmt]))
    return links


def task_summary(task: ProcessingTask) -> dict[str, Any]:
    return {
        "id": str(task.pk),
        "kind": task.kind,
        "source": task.source,
        "title": task.title,
        "status": task.status,
        "error": task.error,  # the sentence the user saw, when it failed
        "created_at": _time(task.created_at),
        "started_at": _time(task.started_at),
        "finished_at": _time(task.finished_at),
        "run_seconds": _seconds(task.started_at, task.finished_at),
        "total_seconds": _seconds(task.created_at, task.finished_at),
        "urls": task_links(task),
    }


def batch_summary(batch: Batch) -> dict[str, Any]:
    items = []
    for item in batch.items.select_related("task"):
        task = item.task
        items.append(
            {
                "position": item.position,
                "source": item.source,
                "error": item.error or (task.error if task else ""),
                "task": None
                if task is None
                else {
                    "id": str(task.pk),
                    "status": task.status,
                    "urls": {"watch": _link(reverse("watch", args=[task.pk]))},
                },
            }
        )
    return {
        "id": str(batch.pk),
        "title": batch.title,
        "created_at": _time(batch.created_at),
        "summary": batch.summary(),
        "tasks": items,
        "urls": {"api": _link(reverse("api-batch", args=[batch.pk]))},
    }


def body_of(delivery: WebhookDelivery) -> bytes:
    """The bytes every attempt of this delivery sends."""
    return json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()


# --- recording an end -------------------------------------------------------------------------------------


def task_ended(task_id: Any) -> list[WebhookDelivery]:
    """Record and queue the deliveries this task's end calls for (its own; its batches' that are now over)."""
    task = ProcessingTask.objects.filter(pk=task_id).first()
    if task is None or not task.is_finished:
        return []
    made = []
    if task.webhook_url:
        made.append(
            _record(owner_id=task.owner_id, event=WebhookDelivery.Event.TASK_ENDED, task=task, url=task.webhook_url)
        )
    for batch in Batch.objects.filter(items__task_id=task.pk).exclude(webhook_url="").distinct():
        made.append(batch_ended(batch))
    return [d for d in made if d is not None]


def batch_ended(batch: Batch) -> WebhookDelivery | None:
    """Record and queue the batch's delivery if it carries a URL and every one of its tasks has ended."""
    if not batch.webhook_url or not batch.summary()["finished"]:
        return None
    return _record(owner_id=batch.owner_id, event=WebhookDelivery.Event.BATCH_ENDED, batch=batch, url=batch.webhook_url)


def _record(
    *, owner_id: Any, event: str, url: str, task: ProcessingTask | None = None, batch: Batch | None = None
) -> WebhookDelivery | None:
    """One delivery row, due now, and a queue entry that sends it, together (the ORM broker's entry is a row
    in the same transaction); None when this end was recorded already."""
    if WebhookDelivery.objects.filter(event=event, task=task, batch=batch).exists():
        return None
    delivery = WebhookDelivery(
        owner_id=owner_id, event=event, task=task, batch=batch, url=url, next_attempt_at=timezone.now()
    )
    subject = {"task": task_summary(task)} if task is not None else {"batch": batch_summary(batch)} if batch else {}
    delivery.payload = {"event": event, "delivery_id": str(delivery.pk), **subject}
    try:
        with transaction.atomic():
            delivery.save(force_insert=True)
            queue_sending()
    except IntegrityError:
        return None  # another process recorded the same end a moment ago
    return delivery


def queue_sending() -> None:
    """A queue entry that sends what is due (jobs.tasks.deliver_webhooks). Entries are interchangeable: one
    that finds nothing left to send does nothing."""
    async_task("jobs.tasks.deliver_webhooks", task_name="webhooks", group="webhooks", save=False)


# --- sending ----------------------------------------------------------------------------------------------


def backoff(attempt: int) -> timedelta:
    """How long to wait after failed attempt number `attempt` (1, 2, …): WEBHOOK_RETRY_SECONDS, doubling."""
    return timedelta(seconds=settings.WEBHOOK_RETRY_SECONDS * 2 ** (attempt - 1))


def due() -> QuerySet[WebhookDelivery]:
    """Pending deliveries whose next attempt may be made now: new ones, ones whose backoff is over, and ones
    whose attempt's worker died (its lease ran out)."""
    return WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=timezone.now())


def deliver_due(*, limit: int = MAX_PER_PASS) -> list[str]:
    """Make one attempt of each delivery that is due (at most `limit`), oldest first. Each is claimed with one
    conditional UPDATE that counts the attempt and moves its time on by LEASE, so two workers sending at once
    never make the same attempt, and one that dies mid-attempt leaves the delivery due again after LEASE.
    A delivery gets at most one attempt per pass (its retry, even with no wait, is the next pass's)."""
    outcomes = []
    for delivery in list(due().order_by("next_attempt_at")[:limit]):
        claimed = WebhookDelivery.objects.filter(
            pk=delivery.pk,
            status=WebhookDelivery.Status.PENDING,
            attempts=delivery.attempts,
            next_attempt_at=delivery.next_attempt_at,
        )
        if delivery.attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
            # The last attempt's worker died before recording it: there is nothing more to try.
            claimed.update(status=WebhookDelivery.Status.FAILED, finished_at=timezone.now(), next_attempt_at=None)
            continue
        if claimed.update(attempts=F("attempts") + 1, next_attempt_at=timezone.now() + LEASE) != 1:
            continue  # another worker got there first
        delivery.attempts += 1
        try:
            outcomes.append(_attempt(delivery))
        except Exception:  # a database error, say: the delivery is due again once its lease is over
            log.exception("webhook delivery %s: attempt %d could not be recorded", delivery.pk, delivery.attempts)
            outcomes.append("error")
    return outcomes


def _attempt(delivery: WebhookDelivery) -> str:
    """Make the claimed attempt, record it, and settle what comes next. Returns what happened, for logs."""
    row = post(delivery, number=delivery.attempts)
    row.save()
    now = timezone.now()
    mine = WebhookDelivery.objects.filter(pk=delivery.pk, attempts=delivery.attempts)
    if row.status_code is not None and 200 <= row.status_code < 300:
        mine.update(status=WebhookDelivery.Status.DELIVERED, finished_at=now, next_attempt_at=None)
        return "delivered"
    if delivery.attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
        mine.update(status=WebhookDelivery.Status.FAILED, finished_at=now, next_attempt_at=None)
        return "failed"
    mine.update(next_attempt_at=now + backoff(delivery.attempts))
    return "will retry"


def post(delivery: WebhookDelivery, *, number: int) -> WebhookAttempt:
    """POST the delivery's body once, signed; the attempt's row (not saved)."""
    row = WebhookAttempt(delivery=delivery, number=number, started_at=timezone.now())
    started = time.monotonic()
    try:
        row.status_code, row.response_excerpt, row.error = _send(delivery)
    except Refused as exc:
        row.error = exc.message
    except httpx.TimeoutException:
        row.error = f"The receiver did not answer within {settings.WEBHOOK_TIMEOUT:g} s."
    except httpx.HTTPError as exc:
        row.error = f"Could not reach the receiver: {str(exc) or type(exc).__name__}."
    except Exception as exc:
        log.warning("webhook delivery %s: attempt %d failed", delivery.pk, number, exc_info=True)
        row.error = f"Could not send the webhook ({type(exc).__name__}); the operators have the details."
    row.duration_ms = (time.monotonic() - started) * 1000
    return row


def _send(delivery: WebhookDelivery) -> tuple[int, str, str]:
    """(status code, start of the answer, sentence when it is not a success)."""
    parts = urlsplit(delivery.url)
    host = parts.hostname or ""
    ip = public_address(host, _port(delivery.url))  # again: DNS may have changed since the URL was checked
    secret = _secret_of(delivery.owner_id)
    body = body_of(delivery)
    timestamp = str(int(time.time()))
    headers = {
        "Host": parts.netloc.rsplit("@", 1)[-1],
        "Content-Type": "application/json",
        "Accept-Encoding": "identity",
        "User-Agent": "Repurposer-Webhook/1",
        "X-Repurposer-Event": delivery.event,
        "X-Repurposer-Delivery": str(delivery.pk),
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: sign(secret, timestamp, body),
    }
    # Connect to the address just checked; the host name still goes in Host and, for TLS, in SNI and the
    # certificate check.
    target = httpx.URL(delivery.url).copy_with(host=str(ip))
    extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
    with (
        httpx.Client(timeout=settings.WEBHOOK_TIMEOUT, follow_redirects=False, trust_env=False) as client,
        client.stream("POST", target, content=body, headers=headers, extensions=extensions) as response,
    ):
        excerpt = b""
        for block in response.iter_raw():
            excerpt += block
            if len(excerpt) >= EXCERPT_BYTES:
                break
        text = excerpt[:EXCERPT_BYTES].decode("utf-8", errors="replace")
        code = response.status_code
        if 200 <= code < 300:
            return code, text, ""
        if response.is_redirect:
            where = response.headers.get("Location", "")[:200]
            return (
                code,
                text,
                (
                    f"The receiver answered {code}, a redirect to {where or 'another address'}; redirects are not "
                    "followed, so give the final URL."
                ),
            )
        return code, text, f"The receiver answered {code}; it must answer 2xx to accept the delivery."


def resend_due() -> int:
    """The every-minute sweep's part: queue a sending entry if deliveries are due (retries whose wait is over,
    attempts whose worker died). Returns how many are due."""
    count = due().count()
    if count:
        queue_sending()
    return count
