"""Discord's requests arriving: ``intake`` moves each ``/train`` into RQ exactly once, and
``cancel`` ends a cancelled job wherever it is (queued, taken, running).

Both sit above ``rq``: they queue the job ``rq.rq_job.train_job`` and send a refused or
cancelled job's one terminal event through ``rq.terminal_outcomes``.
"""
