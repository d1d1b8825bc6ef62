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


def test_every_option_is_in_exactly_one_group_with_its_type():
    """``Options``' views (network, scales, objective, start, stop, solver, first_order)
    cover every field once, with the field's own type, and read the options' values."""
    import dataclasses

    from nstyle.config import GROUPS, Options

    fields = {f.name: f.type for f in dataclasses.fields(Options)}
    grouped = [(f.name, f.type) for view in GROUPS.values() for f in dataclasses.fields(view)]
    assert sorted(name for name, _ in grouped) == sorted(fields)
    assert all(fields[name] == kind for name, kind in grouped)
    options = Options(max_long_edge=256, optimizer="adam", lr=None, seed=3, tv_weight=0.5)
    for group, view in GROUPS.items():
        values = getattr(options, group)
        assert isinstance(values, view)
        for f in dataclasses.fields(view):
            assert getattr(values, f.name) == getattr(options, f.name)
    assert options.first_order.learning_rate_for("sgd") == 1e-3
    assert options.learning_rate == 2.0
    assert Options(**options.__dict__) == options
