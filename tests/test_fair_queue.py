"""Fair dispatch and per-user limits: the fair queue's order, the running limit under concurrent claims, the
limits checked at submit (and their sentences), and real qclusters: one user's backlog does not hold up
another's first job, and a cluster killed with entries in hand strands nothing.

Runs on SQLite by default and on PostgreSQL when DATABASE_URL is set.
"""

from __future__ import annotations

import itertools
import os
import signal
import threading
import time
from datetime import timedelta

import psutil
import pytest
from django.db import connection
from django.utils import timezone
from django_q.models import OrmQ

from jobs import engine, quotas, services
from jobs.models import ProcessingTask

from . import media
from .live import running_stack

pytestmark = pytest.mark.django_db(transaction=True)

QUICK = {"interval": 10, "transcribe": False, "commentary": False, "ideas": False}


@pytest.fixture(scope="session")
def short_clip(sample_dir):
    return media.h264_aac(sample_dir / "fair-3s.mp4", seconds=3)


@pytest.fixture
def bob(django_user_model):
    return django_user_model.objects.create_user("bob", "bob@example.com", "bob-pass-1234")


_age = itertools.count()


def queued(make_task, clip, user, n: int) -> list[ProcessingTask]:
    """n queued tasks of `user`, each a second younger than any made before (created_at decides among equals)."""
    base = timezone.now() - timedelta(hours=1)
    tasks = []
    for _ in range(n):
        task = make_task(clip, user=user, created_at=base + timedelta(seconds=next(_age)))
        ProcessingTask.objects.filter(pk=task.pk).update(params=QUICK)
        tasks.append(task)
    return tasks


def make_running(task: ProcessingTask, *, worker: str = "elsewhere:1") -> None:
    ProcessingTask.objects.filter(pk=task.pk).update(
        status=ProcessingTask.Status.RUNNING, worker=worker, heartbeat_at=timezone.now(), attempts=1
    )


def test_the_user_with_fewer_running_goes_first(make_task, short_clip, owner, bob):
    alices = queued(make_task, short_clip, owner, 5)
    bobs = queued(make_task, short_clip, bob, 1)  # the youngest task of all
    assert list(ProcessingTask.objects.fair_queue())[0] == alices[0], "equal running: the oldest first"
    make_running(alices[0])
    order = list(ProcessingTask.objects.fair_queue())
    assert order[0] == bobs[0], "alice has one running, bob none: bob's task is next"
    assert order[1:] == alices[1:]


def test_owners_that_tie_interleave_their_tasks_oldest_first(make_task, short_clip, owner, bob):
    """The owners' standing is ranked once per owner; owners with the same standing share a rank, so their
    tasks still come oldest first across both (not all of one owner's, then the other's)."""
    order = []
    for _ in range(3):
        order += queued(make_task, short_clip, owner, 1) + queued(make_task, short_clip, bob, 1)
    assert list(ProcessingTask.objects.fair_queue()) == order, "neither has started a task: oldest first"
    ProcessingTask.objects.filter(pk=order[0].pk).update(
        status=ProcessingTask.Status.SUCCEEDED, started_at=timezone.now(), finished_at=timezone.now()
    )
    # Alice started one (it ended): Bob, who never started, goes first among equals, then Alice.
    assert list(ProcessingTask.objects.fair_queue()) == [order[1], order[3], order[5], order[2], order[4]]


def test_a_user_at_the_running_limit_is_skipped(make_task, short_clip, owner, bob, settings):
    settings.USER_MAX_RUNNING = 2
    alices = queued(make_task, short_clip, owner, 4)
    make_running(alices[0])
    make_running(alices[1])
    assert list(ProcessingTask.objects.fair_queue()) == []
    assert not alices[2].claim(worker="w:1", within_user_limit=True)
    assert alices[2].claim(worker="w:1"), "an inline run (no limit asked) may still claim it"
    # A worker that stopped beating does not count: its task is claimable again and its slot is free.
    ProcessingTask.objects.filter(pk=alices[0].pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    bobs = queued(make_task, short_clip, bob, 1)
    assert list(ProcessingTask.objects.fair_queue()) == [bobs[0]], "alice still has 2 live running"
    ProcessingTask.objects.filter(pk=alices[2].pk).update(status=ProcessingTask.Status.SUCCEEDED)
    assert set(ProcessingTask.objects.fair_queue()) == {bobs[0], alices[0], alices[3]}


def test_concurrent_claims_never_pass_the_running_limit(make_task, short_clip, owner, settings):
    """Eight workers (threads with their own connections) claim from one user's queue at once."""
    settings.USER_MAX_RUNNING = 2
    queued(make_task, short_clip, owner, 8)
    barrier = threading.Barrier(8)
    claimed: list[str] = []

    def worker(i: int) -> None:
        try:
            barrier.wait()
            task = engine.claim_next(worker=f"w:{i}")
            if task is not None:
                claimed.append(str(task.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(claimed) == 2 == len(set(claimed))
    assert ProcessingTask.objects.filter(status=ProcessingTask.Status.RUNNING).count() == 2


def test_a_claim_never_deadlocks_with_a_transaction_holding_the_task(make_task, short_clip, owner):
    """A claim locks the owner's row, then waits for the task's row held by another transaction (here: a dead
    worker's task put back in the queue, updated twice, as requeue_stale does). That transaction's COMMIT
    re-checks the task's owner key (FOR KEY SHARE on the owner's row). With the owner locked FOR UPDATE the
    two waited on each other and PostgreSQL killed one ("deadlock detected"); FOR NO KEY UPDATE lets both
    finish. SQLite serialises writers, so only PostgreSQL can show it."""
    if connection.vendor != "postgresql":
        pytest.skip("row locks and foreign-key checks at COMMIT are PostgreSQL's")
    from django.db import transaction

    (task,) = queued(make_task, short_clip, owner, 1)
    make_running(task)
    ProcessingTask.objects.filter(pk=task.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))  # it died
    outcome: list[object] = []

    def claimer() -> None:
        try:
            outcome.append(task.claim(worker="w:claimer", within_user_limit=True))
        except Exception as exc:  # noqa: BLE001 - the deadlock error is the outcome to report
            outcome.append(exc)
        finally:
            connection.close()

    with transaction.atomic():
        ProcessingTask.objects.filter(pk=task.pk).update(status=ProcessingTask.Status.QUEUED)
        ProcessingTask.objects.filter(pk=task.pk).update(stage="queued")
        thread = threading.Thread(target=claimer)
        thread.start()
        with connection.cursor() as cursor:  # until the claim waits for this transaction's row
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                cursor.execute("SELECT pg_stat_clear_snapshot()")  # else one snapshot serves the whole transaction
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
                )
                if cursor.fetchone()[0]:
                    break
                time.sleep(0.02)
            else:
                pytest.fail(f"the claim never waited for the task's row ({outcome})")
    thread.join(timeout=30)
    assert outcome == [True], outcome
    task.refresh_from_db()
    assert task.status == ProcessingTask.Status.RUNNING and task.worker == "w:claimer"


def test_run_next_goes_on_to_the_next_task_and_stops_at_the_limit(make_task, short_clip, owner, bob, settings):
    settings.USER_MAX_RUNNING = 1
    alices = queued(make_task, short_clip, owner, 2)
    make_running(alices[0])  # alice's one slot is taken elsewhere
    bobs = queued(make_task, short_clip, bob, 2)
    result = engine.run_next(hint="test")
    assert result.count("succeeded") == 2, result
    statuses = dict(ProcessingTask.objects.values_list("pk", "status"))
    assert [statuses[t.pk] for t in bobs] == ["succeeded", "succeeded"]
    assert statuses[alices[1].pk] == "queued", "alice was at her limit"
    assert engine.run_next() == "nothing to start"


# --- limits checked at submit --------------------------------------------------------------------------


def test_waiting_work_is_limited_with_a_sentence(owner, settings):
    settings.USER_MAX_QUEUED = 3
    for i in range(3):
        services.submit_youtube(owner=owner, params={"video_id": f"vid{i:08d}", **QUICK})
    with pytest.raises(quotas.LimitReached) as caught:
        services.submit_youtube(owner=owner, params={"video_id": "vid99999999", **QUICK})
    assert caught.value.message == (
        "You already have 3 videos waiting, the most allowed is 3. "
        "Wait for some to finish, or cancel some, then submit again."
    )
    assert ProcessingTask.objects.count() == 3, "nothing was created for the refused one"
    with pytest.raises(quotas.LimitReached, match="uploads|waiting"):
        services.start_upload(owner=owner, filename="a.mp4", size=1000, params=QUICK)


def test_unfinished_uploads_are_limited_in_number_and_bytes(owner, bob, settings):
    settings.USER_MAX_OPEN_UPLOADS = 2
    settings.USER_MAX_OPEN_UPLOAD_BYTES = 3 * 1024**3
    first = services.start_upload(owner=owner, filename="a.mp4", size=2 * 1024**3, params=QUICK)
    with pytest.raises(quotas.LimitReached) as caught:
        services.start_upload(owner=owner, filename="b.mp4", size=2 * 1024**3, params=QUICK)
    assert caught.value.message == (
        "Your unfinished uploads already claim 2 GB; this file (2 GB) would pass the limit of 3 GB for uploads "
        "in progress. Let one finish, or cancel one, first."
    )
    services.start_upload(owner=owner, filename="c.mp4", size=1024**3, params=QUICK)
    with pytest.raises(quotas.LimitReached, match="You have 2 uploads that have not finished"):
        services.start_upload(owner=owner, filename="d.mp4", size=10, params=QUICK)
    services.start_upload(owner=bob, filename="e.mp4", size=2 * 1024**3, params=QUICK)  # bob's are his own
    services.request_cancel(task=first)
    services.start_upload(owner=owner, filename="f.mp4", size=10, params=QUICK)  # a cancelled one frees its place


def test_the_daily_minutes_quota(owner, settings):
    settings.USER_DAILY_MINUTES = 0
    done = ProcessingTask.objects.create(owner=owner, status="succeeded", started_at=timezone.now())
    ProcessingTask.objects.filter(pk=done.pk).update(result={"media": {"duration": 1800.0}})
    services.submit_youtube(owner=owner, params={"video_id": "aaaaaaaaaaa", **QUICK})  # off by default
    settings.USER_DAILY_MINUTES = 30
    with pytest.raises(quotas.LimitReached) as caught:
        services.submit_youtube(owner=owner, params={"video_id": "bbbbbbbbbbb", **QUICK})
    assert caught.value.message == (
        "You have processed 30 minutes of video today; the daily limit is 30 minutes. You can submit more tomorrow."
    )
    ProcessingTask.objects.filter(pk=done.pk).update(started_at=timezone.now() - timedelta(days=1))
    services.submit_youtube(owner=owner, params={"video_id": "bbbbbbbbbbb", **QUICK})  # yesterday's do not count


def test_the_api_and_the_page_answer_a_limit_with_its_sentence(client, owner, settings):
    from api.models import ApiToken

    settings.USER_MAX_QUEUED = 1
    _, token = ApiToken.create_for(user=owner, name="t")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    r = client.post("/api/create", {"youtube_url": "https://youtu.be/dQw4w9WgXcQ"}, **auth)
    assert r.status_code == 202, r.content
    r = client.post("/api/create", {"youtube_url": "https://youtu.be/aaaaaaaaaaa"}, **auth)
    assert r.status_code == 429
    assert r.json()["error"].startswith("You already have 1 video waiting, the most allowed is 1.")
    client.force_login(owner)
    r = client.post("/uploads/", {"filename": "a.mp4", "size": 1000, "interval": 10})
    assert r.status_code == 429 and "the most allowed is 1" in r.json()["errors"][0]
    r = client.post("/youtube/", {"url": "https://youtu.be/bbbbbbbbbbb", "interval": 10})
    assert r.status_code == 200 and "the most allowed is 1" in r.content.decode()


# --- real qclusters ------------------------------------------------------------------------------------


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"not in {timeout:.0f} s: {what}")


def all_finished() -> bool:
    return not ProcessingTask.objects.exclude(status__in=ProcessingTask.FINISHED).exists()


def test_a_users_first_job_does_not_wait_behind_anothers_backlog(make_task, short_clip, owner, bob, media_root):
    """Alice has 12 jobs queued on a 2-worker cluster; Bob submits one while hers run. Bob's starts in the
    next slot that frees: at most one of Alice's starts between his submit and his start (FIFO would put
    all her remaining ones first)."""
    alices = queued(make_task, short_clip, owner, 12)
    for task in alices:
        services.enqueue(task)
    with running_stack(connection.settings_dict, media_root, web=False, workers=2):
        wait_for(lambda: ProcessingTask.objects.filter(owner=owner, status="running").count() == 2, 60, "alice runs 2")
        bobs = make_task(short_clip, user=bob)
        ProcessingTask.objects.filter(pk=bobs.pk).update(params=QUICK)
        # From here his job can be claimed (making it copies the clip, which can take longer than Alice's jobs).
        submitted = timezone.now()
        services.enqueue(bobs)
        wait_for(all_finished, 240, "every task finished")
    bobs.refresh_from_db()
    assert bobs.status == "succeeded", bobs.error_detail
    starts = list(ProcessingTask.objects.filter(owner=owner).values_list("started_at", flat=True))
    ahead = [s for s in starts if submitted < s < bobs.started_at]
    behind = [s for s in starts if s > bobs.started_at]
    assert len(ahead) <= 1, f"{len(ahead)} of alice's jobs started between bob's submit and his start"
    assert len(behind) >= 3, "alice still had jobs waiting when bob's started (else the test proves nothing)"
    assert ProcessingTask.objects.filter(status="succeeded").count() == 13


def test_a_killed_cluster_strands_nothing(make_task, short_clip, owner, bob, media_root, settings):
    """Two clusters of one worker each. The first is killed (SIGKILL, its whole process group) while it runs
    a task and holds queue entries its pusher fetched ahead (locked for hours by the ORM broker). The other
    cluster runs every queued task anyway, and the killed one's task once its heartbeat is stale."""
    settings.JOB_STALE_AFTER = 10
    env = {"JOB_STALE_AFTER": "10", "JOB_HEARTBEAT_SECONDS": "1", "USER_MAX_RUNNING": "4"}
    long_clip = media.h264_aac(media_root.parent / "fair-12s.mp4", seconds=12)
    tasks = queued(make_task, long_clip, owner, 4) + queued(make_task, short_clip, bob, 4)
    ProcessingTask.objects.update(params={**QUICK, "interval": 2})  # more chunks: each job takes a while
    for task in tasks:
        services.enqueue(task)
    with (
        running_stack(connection.settings_dict, media_root, web=False, workers=1, extra_env=env) as doomed,
        running_stack(connection.settings_dict, media_root, web=False, workers=1, extra_env=env),
    ):

        def doomed_is_running() -> bool:
            pids = {f":{pid}" for pid in doomed.worker_pids()}
            workers = ProcessingTask.objects.filter(status="running").values_list("worker", flat=True)
            return any(w[w.rindex(":") :] in pids for w in workers)

        wait_for(doomed_is_running, 60, "the first cluster runs a task")
        pids = doomed.worker_pids()
        os.killpg(doomed.procs["queue"].pid, signal.SIGKILL)
        psutil.wait_procs([psutil.Process(p) for p in pids if psutil.pid_exists(p)], timeout=10)
        dead = {f":{pid}" for pid in pids}
        orphan = next(
            t for t in ProcessingTask.objects.filter(status="running") if t.worker[t.worker.rindex(":") :] in dead
        )
        held = OrmQ.objects.filter(lock__gt=timezone.now()).count()

        def the_rest_done() -> bool:
            return not ProcessingTask.objects.exclude(pk=orphan.pk).exclude(status__in=ProcessingTask.FINISHED).exists()

        wait_for(the_rest_done, 180, "the surviving cluster ran every other task")

        def recovered() -> bool:
            # The survivor takes the stale task itself when it looks for work after JOB_STALE_AFTER; when it
            # is idle by then, the minute schedule (jobs.tasks.requeue_stale, called here so the test need
            # not wait for it) hands the task back and wakes it.
            services.requeue_stale()
            time.sleep(1)
            return all_finished()

        wait_for(recovered, 120, "the dead worker's task ran again")
    assert held >= 1, "the killed cluster held entries (else the test proves nothing)"
    assert set(ProcessingTask.objects.values_list("status", flat=True)) == {"succeeded"}
    orphan.refresh_from_db()
    assert orphan.attempts == 2
