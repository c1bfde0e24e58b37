"""``make chaos``: fault schedules against the real system, invariants checked after each.

    python -m tests.chaos.run --seed N      replays one schedule (``make chaos SEED=n``)
    python -m tests.chaos.run --seeds N     N schedules from --first (0), stopping early after
                                            --budget-min minutes; -> bench/results/chaos.json

Each schedule that breaks an invariant prints its seed, the schedule and every violation; the
exit status is 1 when any did.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from tests.chaos.invariants import Violation
from tests.chaos.runner import Outcome, run_seed
from tests.chaos.schedule import KINDS, generate

RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results" / "chaos.json"


def summary(outcomes: list[Outcome], wall_s: float, budget_hit: bool) -> dict[str, object]:
    injected: Counter[str] = Counter({kind: 0 for kind in KINDS})
    skipped: Counter[str] = Counter()
    by_kind: Counter[str] = Counter()
    for outcome in outcomes:
        injected.update(outcome.injected)
        skipped.update(outcome.skipped)
        by_kind.update(v.kind for v in outcome.violations)
    return {
        "generated": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "schedules": len(outcomes),
        "seeds": [o.schedule.seed for o in outcomes],
        "stopped_by_budget": budget_hit,
        "faults_injected": dict(injected),
        "faults_skipped": dict(skipped),
        "violations": sum(by_kind.values()),
        "violations_by_kind": dict(by_kind),
        "failing": [
            {"seed": o.schedule.seed, "violations": [str(v) for v in o.violations]}
            for o in outcomes
            if o.violations
        ],
        "wall_s": round(wall_s, 1),
    }


def _guarded(seed: int, keep: Path | None) -> Outcome:
    """A schedule the harness itself could not run (a bot that never started) is reported as
    a violation of its own kind, and the long run goes on."""
    try:
        return run_seed(seed, keep)
    except Exception as exc:  # any failure of one schedule is reported, the run goes on
        where = traceback.extract_tb(exc.__traceback__)[-3:]
        at = " <- ".join(f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in reversed(where))
        error = Violation("harness_error", "-", f"{type(exc).__name__}: {exc} at {at}"[:2000])
        return Outcome(generate(seed), Counter(), Counter(), [error], 0.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos.run", description=__doc__)
    parser.add_argument("--seed", type=int, help="run this one schedule")
    parser.add_argument("--seeds", type=int, default=200, help="how many schedules")
    parser.add_argument("--first", type=int, default=0, help="the first seed of --seeds")
    parser.add_argument("--budget-min", type=float, default=0.0, help="stop after (0: never)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--keep", type=Path, help="keep each schedule's logs under this folder")
    args = parser.parse_args(argv)
    if args.seed is not None:
        outcome = run_seed(args.seed, args.keep)
        print(outcome.report(), flush=True)
        return 1 if outcome.violations else 0
    began, outcomes, budget_hit = time.monotonic(), [], False
    for seed in range(args.first, args.first + args.seeds):
        if args.budget_min and time.monotonic() - began > args.budget_min * 60:
            budget_hit = True
            break
        outcome = _guarded(seed, args.keep)
        outcomes.append(outcome)
        status = "FAIL" if outcome.violations else "ok"
        print(f"seed {seed}: {status} ({outcome.wall_s:.0f} s)", flush=True)
        if outcome.violations:
            print(outcome.report(), flush=True)
    result = summary(outcomes, time.monotonic() - began, budget_hit)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{result['schedules']} schedules, {result['violations']} violations -> {args.out}")
    return 1 if result["violations"] else 0


if __name__ == "__main__":
    sys.exit(main())
