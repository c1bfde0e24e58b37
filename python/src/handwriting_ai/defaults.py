"""One home for each default that more than one place needs (as RQ's ``rq/defaults.py``).

Settings (``settings.py``) take their defaults from here, and so do the constructors and
signatures that work without settings (a publisher in a test, ``train_model`` called
directly), so that changing a default is one edit. A default only settings read stays there.
The message and Redis names are generated from schemas/ (``contracts.names``); the request's
bounds are the schema's.
"""

BATCH_EVERY = 10
"""EVENTS__BATCH_EVERY: a batch event on the first, every N-th and the last batch."""
QUEUE_SIZE = 1024
"""EVENTS__QUEUE_SIZE: events a background publisher holds at most."""
REDIS_TIMEOUT_S = 1.0
"""EVENTS__REDIS_TIMEOUT_S: connect and reply timeout of one PUBLISH."""
CLOSE_TIMEOUT_S = 2.0
"""EVENTS__CLOSE_TIMEOUT_S: how long closing a publisher may wait to flush."""
UPLOAD_TIMEOUT_S = 30.0
"""UPLOAD__TIMEOUT_S: seconds to wait for one upload attempt."""
UPLOAD_ATTEMPTS = 3
"""UPLOAD__ATTEMPTS: upload tries in all."""
UPLOAD_BACKOFF_S = 0.5
"""UPLOAD__BACKOFF_S: wait before the second upload try; doubles before each later one."""
