"""Every flag parses to what it parsed to before the restructure of issue 23, and the help
reads the same (tests/data/flag_values.json, recorded by tests/flag_values.py)."""

import json

import pytest

from tests import flag_values


@pytest.fixture(scope="module")
def now() -> dict:
    return flag_values.record()


@pytest.fixture(scope="module")
def golden() -> dict:
    return json.loads(flag_values.GOLDEN.read_text())


def test_the_help_is_unchanged(now, golden):
    assert now["help"] == golden["help"]


def test_the_same_flags_are_sampled(now, golden):
    assert [s["argv"] for s in now["samples"]] == [s["argv"] for s in golden["samples"]]


def test_every_flag_parses_to_the_same_value(now, golden):
    for was, is_now in zip(golden["samples"], now["samples"], strict=True):
        assert is_now == was, was["argv"]
