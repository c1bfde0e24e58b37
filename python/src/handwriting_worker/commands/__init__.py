"""The command line: ``cli`` parses ``python -m handwriting_worker COMMAND`` and runs it.

The commands that need no queue live here too (``train``, ``tail`` and its ``--replay``,
``evaluate``, ``predict``), with the request options ``enqueue`` and ``train`` share and the
progress drawn on a terminal. The queue's commands are in ``rq.queue_commands``, the
intake's in ``requests.intake``, the predict worker's in ``predicting.predict_worker``.
"""
