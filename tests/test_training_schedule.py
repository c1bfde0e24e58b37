"""Adam's schedule: a short linear warm-up to the peak, then a linear decay to near zero."""

from __future__ import annotations

import itertools

import pytest
import torch

from handwriting_ai.training.schedule import (
    WARMUP_STEPS,
    adam_with_schedule,
    lr_factor,
    warmup_steps,
)


def test_warmup_is_ten_steps_or_half_a_short_run() -> None:
    assert WARMUP_STEPS == 10
    assert [warmup_steps(n) for n in (1, 2, 7, 20, 21, 625)] == [0, 1, 3, 10, 10, 10]


def test_factor_rises_to_one_then_falls_to_one_step_before_zero() -> None:
    total = 110  # 10 warm-up steps, 100 decay steps
    factors = [lr_factor(step, total) for step in range(total + 1)]
    assert factors[:10] == pytest.approx([(s + 1) / 10 for s in range(10)])
    assert factors[10] == 1.0
    assert factors[60] == pytest.approx(0.5)
    assert factors[total - 1] == pytest.approx(0.01)  # the last step still learns
    assert factors[total] == 0.0
    assert all(a >= b for a, b in itertools.pairwise(factors[9:]))
    assert lr_factor(total + 5, total) == 0.0


def test_a_one_step_run_trains_at_the_peak() -> None:
    assert lr_factor(0, 1) == 1.0


def test_adam_follows_the_schedule() -> None:
    weight = torch.nn.Parameter(torch.ones(3))
    adam, schedule = adam_with_schedule([weight], 0.01, 40)
    assert isinstance(adam, torch.optim.Adam)
    seen = []
    for _ in range(40):
        seen.append(adam.param_groups[0]["lr"])
        torch.autograd.backward((weight**2).sum())
        adam.step()
        adam.zero_grad()
        schedule.step()
    assert seen[0] == pytest.approx(0.001)
    assert max(seen) == pytest.approx(0.01)
    assert seen.index(max(seen)) == 9
    assert seen[-1] == pytest.approx(0.01 / 30)
    assert float(weight.detach().abs().max()) < 1  # it did train


def test_no_steps_is_refused() -> None:
    with pytest.raises(ValueError, match="total_steps must be 1 or more, got 0"):
        adam_with_schedule([torch.nn.Parameter(torch.ones(1))], 0.01, 0)
