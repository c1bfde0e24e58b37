"""``make demo``: the whole system on this machine, the job's Discord message drawn in the terminal.

Starts a private redis-server (or uses REDIS_URL), one worker and the bot with ``--dry-run``,
enqueues one job, and redraws the message the bot would send to Discord each time the bot edits
it. Stops every process it started, in order, when the job's message is final or on Ctrl-C.
"""
