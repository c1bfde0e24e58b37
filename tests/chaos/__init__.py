"""The fault-schedule harness (issue 22, item 6): runs small jobs through the real system
(redis-server with AOF, RQ workers, the intake, two bots, the Discord stand-in) while a seeded
schedule injects faults, then checks invariants rather than paths. ``python -m
tests.chaos.run --seed N`` replays one schedule; ``make chaos`` runs many."""
