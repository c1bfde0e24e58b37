"""A queue writer cannot run code on the workers: a real worker refuses any job that is not
a plain training job (another function, an instance, any callback)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from redis import Redis
from rq import Callback, Queue
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from handwriting_ai.events.eventlog import log_range
from handwriting_worker.rq.job_class import TRAIN_JOB, DigitsJob, RefusedJob, refusal
from handwriting_worker.rq.rq_job import train_job
from tests.conftest import RedisServer
from tests.e2e_support import QUEUE, REPO, worker_env

REQUEST = {"request_id": "r-callback", "user_id": 5, "model_id": "m"}


def test_a_real_worker_refuses_other_functions_and_callbacks(
    redis_server: RedisServer, client: Redis, tmp_path: Path
) -> None:
    marker = tmp_path / "x"
    queue = Queue(QUEUE, connection=client, serializer=JSONSerializer)
    system = queue.enqueue("os.system", f"touch {marker}")
    hooked = queue.enqueue(train_job, REQUEST, on_success=Callback("os.getpid"))
    env = worker_env(redis_server.url, tmp_path)
    worker = subprocess.run(
        [sys.executable, "-m", "handwriting_worker", "worker", "--burst"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = worker.stdout + worker.stderr
    assert worker.returncode == 0, output
    assert not marker.exists()
    for job in (system, hooked):
        assert job.get_status(refresh=True) == JobStatus.FAILED
        assert job.id in queue.failed_job_registry.get_job_ids()
    assert (
        f"refused job {system.id} from queue {QUEUE}: it names the function 'os.system'" in output
    )
    assert "it has callbacks (on_success='os.getpid')" in output
    # One failed event, for the job that names a request; none for the other.
    events = [json.loads(text) for _, text in log_range(client, "digits:events:log")]
    assert [(e["type"], e["request_id"], e["error_kind"]) for e in events] == [
        ("digits.train.failed.v1", "r-callback", "system")
    ]
    assert str(events[0]["message"]).startswith("refused by the worker: it has callbacks")


@pytest.mark.parametrize(
    ("func", "kwargs", "reason"),
    [
        ("os.system", {}, "it names the function 'os.system'"),
        (TRAIN_JOB, {"on_failure": Callback("os.getpid")}, "on_failure='os.getpid'"),
        (TRAIN_JOB, {"on_stopped": Callback("os.getpid")}, "on_stopped='os.getpid'"),
    ],
)
def test_what_is_refused_and_that_func_imports_nothing_refused(
    client: Redis, func: str, kwargs: dict[str, Callback], reason: str
) -> None:
    queue = Queue(QUEUE, connection=client, serializer=JSONSerializer, job_class=DigitsJob)
    job = queue.enqueue(func, REQUEST, **kwargs)
    fetched = DigitsJob.fetch(job.id, connection=client, serializer=JSONSerializer)
    found = refusal(fetched)
    assert found is not None and reason in found
    with pytest.raises(RefusedJob, match=reason):
        _ = fetched.func


def test_a_plain_training_job_passes_and_odd_data_does_not(client: Redis) -> None:
    queue = Queue(QUEUE, connection=client, serializer=JSONSerializer, job_class=DigitsJob)
    job = queue.enqueue(train_job, REQUEST)
    fetched = DigitsJob.fetch(job.id, connection=client, serializer=JSONSerializer)
    assert refusal(fetched) is None
    assert fetched.func is train_job
    fetched.instance = "an object"
    assert refusal(fetched) == "it names an instance to call a method of; training jobs name none"
    client.hset(job.key, "data", b"\xff not json")
    broken = Job.fetch(job.id, connection=client, serializer=JSONSerializer)
    assert refusal(broken) == "its data cannot be read (DeserializationError)"
