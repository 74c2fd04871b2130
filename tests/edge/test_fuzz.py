"""A short run of bench/fuzz.py in the suite: every input from outside ends in a result or its documented error.
The long run (figures in docs/BENCHMARKS.md) is ``python -m bench.fuzz``."""

from __future__ import annotations

import pytest

from bench.fuzz import run


@pytest.fixture(scope="module")
def fuzzed() -> dict:
    return run(cases=1500, seed=7)


@pytest.mark.parametrize("target", ["command", "config", "modbus", "live"])
def test_no_input_crashes_its_parser(fuzzed, target):
    result = fuzzed[target]
    assert result["cases"] > 0
    assert result["crashes"] == 0, result["first_crash"]
