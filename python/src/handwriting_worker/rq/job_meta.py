"""The facts a job leaves in its RQ meta, for whoever ends it when its work horse cannot.

The work horse notes its run id (``RUN_ID_META``) as soon as training names one; whoever
cancels a running job notes who did (``CANCEL_META``) before RQ's stop-job command. The
reports in ``terminal_outcomes`` read both, so a failed event sent for the horse names the run
and the user who stopped it. A job whose request has no id is named after its RQ job.
"""

from __future__ import annotations

from rq.job import Job

RUN_ID_META = "run_id"
CANCEL_META = "cancel_requested_by"
"""Set (a Discord user id, decimal) and saved by whoever cancels a job before RQ's stop-job."""


def fallback_request_id(job_id: str) -> str:
    """The request id of a job whose request has none: named after the RQ job, never shared."""
    return f"rq-job-{job_id}"


def note_in_meta(job: Job | None, key: str, value: str | bool) -> None:
    """Notes a fact in the job's meta in Redis, where the parent can read it."""
    if job is not None:
        job.meta[key] = value
        # What Job.save_meta does (it is not typed): only the meta field, never the status.
        job.connection.hset(job.key, "meta", job.serializer.dumps(job.meta))
