"""The public surface of jouleflow.explain, and how the CLI commands plug into `jouleflow`."""

from __future__ import annotations

import click

import jouleflow.explain
from jouleflow.cli.explain import register


def test_all_is_exact_and_sorted():
    names = jouleflow.explain.__all__
    assert names == sorted(names)
    for name in names:
        assert getattr(jouleflow.explain, name) is not None


def test_register_adds_three_commands_and_jouleflow_has_them():
    from jouleflow.cli.main import cli

    group = click.Group()
    register(group)
    assert set(group.commands) == {"explain", "estimate", "calibrate"}
    assert set(group.commands) <= set(cli.commands)
