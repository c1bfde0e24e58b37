"""bench.train: real training of the compared nets on the offline digits, with tiny budgets.

The speed and accuracy goals are checked by the benchmark's own JSON, not here: these tests
check that it trains, times and reports what it says.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from bench.train import checkpoints, main, run_net, summarize
from bench.train_recipes import recipe, reference_net
from handwriting_ai.data.digits import load_offline
from handwriting_ai.training.artifacts import JsonValue

DATA_ROOT = Path(__file__).resolve().parent.parent / "data" / "mnist"


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """One torch thread (fast on a busy machine); the bench's main sets it for the process."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def test_checkpoints_up_to_the_budget_and_the_budget() -> None:
    assert checkpoints(60) == [5, 10, 20, 30, 60]
    assert checkpoints(25) == [5, 10, 20, 25]
    assert checkpoints(0.3) == [0.3]


def test_reference_net_is_the_published_shape() -> None:
    net = reference_net()
    linears = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(9216, 128), (128, 10)]
    net.eval()
    out = net(torch.zeros(2, 1, 28, 28))
    assert out.shape == (2, 10)
    assert torch.allclose(out.exp().sum(1), torch.ones(2))  # log-softmax


def test_recipes_as_published() -> None:
    ours, ref, resnet = (recipe(net, 0, 8000) for net in ("ours", "reference", "resnet18"))
    assert (ours.batch_size, ours.augment, ours.max_epochs) == (64, True, 5)
    assert ours.step_schedule is not None and ours.epoch_schedule is None
    assert isinstance(ref.optimizer, torch.optim.Adadelta)
    assert ref.optimizer.param_groups[0]["lr"] == 1.0
    assert (ref.batch_size, ref.augment, ref.max_epochs) == (64, False, None)
    assert ref.epoch_schedule is not None and ref.step_schedule is None
    assert isinstance(resnet.optimizer, torch.optim.Adam)
    assert (resnet.batch_size, resnet.epoch_schedule, resnet.step_schedule) == (128, None, None)


def test_a_net_that_ends_its_schedule_shows_its_finished_model() -> None:
    data = load_offline(DATA_ROOT)
    small = replace(
        data,
        train_images=data.train_images[:128],
        train_labels=data.train_labels[:128],
        val_images=data.val_images[:500],
        val_labels=data.val_labels[:500],
    )
    run = run_net("ours", 0, small, [0.001, 1000.0], time.perf_counter)
    assert run["epochs"] == 5.0  # all of its schedule: 5 epochs of 128 digits
    assert run["samples_at_s"] == {"0.001": 64, "1000": 640}
    finished = run["finished_s"]
    assert isinstance(finished, float) and 0 < finished < 1000
    accs = run["val_acc_at_s"]
    assert isinstance(accs, dict)
    first, last = accs["0.001"], accs["1000"]
    assert isinstance(first, float) and isinstance(last, float)
    assert last > first  # after one batch, and after all 10


def test_main_trains_alternating_rounds_and_writes_the_table(tmp_path: Path) -> None:
    out = tmp_path / "train.json"
    argv = ["--budget-s", "0.3", "--rounds", "2", "--nets", "reference", "ours"]
    argv += ["--threads", "1", "--data-root", str(DATA_ROOT), "--out", str(out)]
    assert main(argv) == 0
    report = json.loads(out.read_text())
    assert report["protocol"]["checkpoints_s"] == [0.3]
    assert report["protocol"]["seeds"] == [0, 1]
    assert report["threads"] == 1
    assert report["dataset"]["val_size"] == 2000
    assert list(report["table"]) == ["ours", "reference"]
    for net in ("ours", "reference"):
        row = report["table"][net]
        assert 0 <= row["val_acc_at_s"]["0.3"] <= 1
        assert row["samples_per_sec"] > 0
        assert len(report["runs"][net]) == 2
        for run in report["runs"][net]:
            assert run["finished_s"] is None  # 0.3 s is far from any schedule's end
            assert run["epochs"] > 0
            assert run["load_avg_1m"] >= 0
    ours, ref = (report["table"][n]["val_acc_at_s"]["0.3"] for n in ("ours", "reference"))
    assert report["ours_ahead"] == {"0.3": ours > ref}
    assert report["make_train_goal"] is None  # no 30 s checkpoint


def test_cpu_clock_and_one_net(tmp_path: Path) -> None:
    out = tmp_path / "train.json"
    argv = ["--budget-s", "0.2", "--rounds", "1", "--nets", "ours", "--clock", "cpu"]
    assert main([*argv, "--threads", "1", "--data-root", str(DATA_ROOT), "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["protocol"]["clock"].startswith("cpu:")
    assert list(report["table"]) == ["ours"]
    assert report["ours_ahead"] == {}


def test_bad_rounds_or_budget_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--rounds", "0"], ["--budget-s", "0"]):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2
        assert "--rounds must be 1 or more" in capsys.readouterr().err


def _run(acc_at: dict[str, float], finished_s: float | None) -> dict[str, JsonValue]:
    accs: dict[str, JsonValue] = dict(acc_at)
    return {"samples_per_sec": 100.0, "finished_s": finished_s, "val_acc_at_s": accs}


def test_summary_medians_ours_ahead_and_the_30_s_goal() -> None:
    ours = [_run({"5": 0.9, "30": a}, 20.0) for a in (0.986, 0.99, 0.988)]
    ref = [_run({"5": 0.95, "30": 0.97}, None) for _ in range(3)]
    summary = summarize({"ours": ours, "reference": ref}, [5.0, 30.0])
    assert summary["ours_ahead"] == {"5": False, "30": True}
    assert summary["make_train_goal"] == {
        "threshold": 0.985,
        "within_s": 30.0,
        "val_acc_by_seed": [0.986, 0.99, 0.988],
        "min": 0.986,
        "median": 0.988,
        "met": True,
        "finished_s_by_seed": [20.0, 20.0, 20.0],
    }
    table = summary["table"]
    assert isinstance(table, dict)
    assert table["reference"] == {"val_acc_at_s": {"5": 0.95, "30": 0.97}, "samples_per_sec": 100.0}
    low = summarize({"ours": [_run({"30": 0.98}, None)]}, [30.0])["make_train_goal"]
    assert isinstance(low, dict) and low["met"] is False
