"""The worker side of digits training: ``python -m handwriting_worker COMMAND``.

Subpackages by role; imports run down this list, never up:

- ``commands``: the CLI (``cli``) and the commands that need no queue (``train``, ``tail``,
  ``evaluate``, ``predict``), with the request options ``enqueue`` and ``train`` share;
- ``predicting``: ``predict-worker``, which answers ``/predict`` from its own list;
- ``requests``: Discord's requests arriving (``intake``) and being cancelled (``cancel``);
- ``rq``: the queue: the job as a work horse runs it, the worker, and every report of a job's
  one terminal event that the job could not send itself;
- ``training``: one training job and the model files it leaves (activation, upload, prune).

The packages' ``__init__`` modules import nothing, so a light command (``tail``, ``intake``)
never loads torch through them.
"""
