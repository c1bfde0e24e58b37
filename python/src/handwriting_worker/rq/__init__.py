"""The queue side: a training job as RQ runs it, and its one terminal event however it ends.

``rq_job`` runs the job in the work horse, ``rq_worker`` is the worker that forks it (refusing
anything ``job_class`` does not allow), ``queue_commands`` are ``worker`` and ``enqueue``.
A job that cannot send its own terminal event is reported by someone else (``reports``,
``lost``); the requests' shared Redis names (``requests_keys``) and the horse's own watch
for a Cancel (``cancel_watch``) are here because the job reads them.
"""
