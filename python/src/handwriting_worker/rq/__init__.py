"""The queue side: a training job as RQ runs it, and its one terminal event however it ends.

``rq_job`` runs the job in the work horse, ``rq_worker`` is the worker that forks it (refusing
anything ``job_class`` does not allow), ``queue_commands`` are ``worker`` and ``enqueue``.
Which terminal event each way a job ends gets is decided in one module,
``terminal_outcomes`` (the horse's guard, and the reports of a job that could not send its
own: its dead horse, a stop, a cold shutdown, a job taken but never started, a lost worker
(``lost`` keeps the list), a refusal), reading the facts the job left in its meta
(``job_meta``). The requests' shared Redis
names (``requests_keys``) and the horse's own watch for a Cancel (``cancel_watch``) are here
because the job reads them.
"""
