"""``DigitsJob``: a digits worker runs training jobs and nothing else.

Why: the queue's JSON serializer keeps pickle out, but RQ still imports whatever function a
job names, and its callbacks (``on_success``, ``on_failure``, ``on_stopped``): anyone who can
write to the queue could run any importable function as the worker's user, e.g.
``enqueue("os.system", "id > /tmp/x")``. The worker uses this class (RQ's ``job_class``) and
asks ``refusal`` before it forks a work horse: a job whose function is not ``TRAIN_JOB``, that
names an instance, or that has any callback is never run (see ``rq_worker``). The ``func``
property refuses the same jobs, so no other path imports what they name either.
"""

from __future__ import annotations

from collections.abc import Callable

from rq.job import Job

from handwriting_worker.rq.rq_job import train_job

TRAIN_JOB = f"{train_job.__module__}.{train_job.__qualname__}"
"""The one function a digits job may name."""


class RefusedJob(Exception):
    """A job this worker does not run; the message says why."""


def refusal(job: Job) -> str | None:
    """Why ``job`` must not run, or None when it is a plain training job."""
    try:
        name = job.func_name
        instance: object = job.instance
    except Exception as exc:  # data that cannot be read names nothing we run
        return f"its data cannot be read ({type(exc).__name__})"
    if name != TRAIN_JOB:
        return f"it names the function {name!r}; this worker runs only {TRAIN_JOB}"
    if instance is not None:
        return "it names an instance to call a method of; training jobs name none"
    # RQ keeps the callbacks' names in these attributes (the public properties import them).
    callbacks = {
        "on_success": job._success_callback_name,
        "on_failure": job._failure_callback_name,
        "on_stopped": job._stopped_callback_name,
    }
    named = [f"{kind}={value!r}" for kind, value in callbacks.items() if value]
    if named:
        return f"it has callbacks ({', '.join(named)}); training jobs have none"
    return None


class DigitsJob(Job):
    """RQ's Job, refusing to import anything a refused job names."""

    @property
    def func(self) -> Callable[[object], dict[str, str | float | None]]:
        reason = refusal(self)
        if reason is not None:
            raise RefusedJob(f"job {self.id} refused: {reason}")
        return train_job
