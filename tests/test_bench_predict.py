"""bench/predict.py's arithmetic: nearest-rank percentiles and the digit an answer reads."""

from __future__ import annotations

from bench.predict import digit_of, percentile


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(100, 0, -1)]  # 1..100, in any order
    assert (percentile(values, 0.5), percentile(values, 0.99), percentile(values, 1.0)) == (
        50.0,
        99.0,
        100.0,
    )
    assert percentile([3.0], 0.5) == percentile([3.0], 0.0) == 3.0


def test_only_an_answer_that_reads_a_digit_counts_as_one() -> None:
    assert digit_of("Reads 7 (99.12%)") == 7
    assert digit_of("Could not read the picture: the picture is blank") is None
    assert digit_of("No prediction: Reads 7 (99%)") is None
