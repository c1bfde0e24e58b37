"""One training job and the model files it leaves; no queue, no RQ.

``job`` runs a request step by step and reports each step as an event; ``activation`` decides
which run is served, ``upload`` sends it to the model API, ``prune`` deletes old snapshots, and
``texts`` keeps server details (URLs, paths) out of the events' text.
"""
