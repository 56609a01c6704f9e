"""estimate(): FLOPs from sizes (6·N·D, 2·N·D) or counted on meta tensors, and the interval."""

from __future__ import annotations

import subprocess
import sys

import pytest

from jouleflow.errors import ConfigError
from jouleflow.explain import (
    Interval,
    costs_for,
    estimate,
    load_tables,
    parse_count,
    work_from_model,
    work_from_sizes,
)
from jouleflow.explain.estimate import load_factory


@pytest.mark.parametrize(
    ("text", "value"),
    [("124M", 124e6), ("7B", 7e9), ("1.5e9", 1.5e9), ("1_000", 1000.0), ("2k", 2000.0)],
)
def test_counts_read_like_people_write_them(text, value):
    assert parse_count(text) == value


def test_a_bad_count_is_a_config_error():
    with pytest.raises(ConfigError, match="not a count"):
        parse_count("lots")


def test_training_is_6nd_and_inference_2nd():
    training = work_from_sizes(124e6, 1e9, precision="bf16")
    assert training.work.flops == 6 * 124e6 * 1e9 and training.training
    steps = 1e9 / 524_288
    assert training.work.bytes == pytest.approx(124e6 * (3 * 2 + 24) * steps)
    inference = work_from_sizes(7e9, 1000, training=False, precision="fp16", batch=8)
    assert inference.work.flops == 2 * 7e9 * 1000
    assert inference.work.bytes == pytest.approx(7e9 * 2 * 1000 / 8)
    assert "2·N·D" in inference.flops_method and "6·N·D" in training.flops_method


def test_the_estimate_is_the_model_with_an_interval_bounded_by_tdp():
    costs = costs_for(load_tables().device("h100"), "bf16")
    job = work_from_sizes(124e6, 1e9, precision="bf16")
    result = estimate(job, costs, utilisation=Interval(0.25, 0.4, 0.55))
    peak = 989.5e12
    seconds = job.work.flops / (peak * 0.4)
    assert result.duration_s.central == pytest.approx(seconds)
    assert result.arithmetic_j == pytest.approx(job.work.flops * costs.j_per_flop.value)
    assert result.data_j == pytest.approx(job.work.bytes * costs.j_per_byte.value)
    assert result.static_j == pytest.approx(costs.idle_w.value * seconds)
    e = result.energy_j
    assert e.central == pytest.approx(result.arithmetic_j + result.data_j + result.static_j)
    assert e.low < e.central < e.high
    assert e.high >= 700 * job.work.flops / (peak * 0.25)  # TDP for the slowest time
    assert result.bound == "compute"
    document = result.to_dict()
    assert document["label"] == "estimate"
    assert document["energy_kwh"]["central"] == pytest.approx(e.central / 3_600_000)


def test_decoding_one_token_at_a_time_is_memory_bound():
    costs = costs_for(load_tables().device("h100"), "bf16")
    result = estimate(work_from_sizes(7e9, 1000, training=False, precision="bf16"), costs)
    assert result.bound == "memory"
    assert result.duration_s.central == pytest.approx(7e9 * 2 * 1000 / (3.35e12 * 0.7))


def test_a_bad_utilisation_is_refused():
    costs = costs_for(load_tables().device("l4"), "fp16")
    with pytest.raises(ConfigError, match="utilisation"):
        estimate(work_from_sizes(1e6, 1e6), costs, utilisation=Interval(0.5, 0.4, 0.6))


def mlp():
    torch = pytest.importorskip("torch")
    return torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))


def test_a_model_is_counted_on_meta_tensors_forward_and_backward():
    pytest.importorskip("torch")
    job = work_from_model(mlp, (16, 64), steps=10)
    forward = 2 * 16 * (64 * 32 + 32 * 10)
    # backward: weight gradients for both layers, input gradient for the second only
    backward = 2 * 16 * 64 * 32 + 2 * (2 * 16 * 32 * 10)
    assert job.work.flops == 10 * (forward + backward)
    leaf_bytes = 4 * (
        (64 * 32 + 32) + 16 * 64 + 16 * 32  # Linear 1: params, in, out
        + 16 * 32 + 16 * 32  # ReLU: in, out
        + (32 * 10 + 10) + 16 * 32 + 16 * 10  # Linear 2
    )  # fmt: skip
    assert job.work.bytes == pytest.approx(10 * 3 * leaf_bytes)
    inference = work_from_model(mlp, (16, 64), steps=10, training=False, precision="bf16")
    assert inference.work.flops == 10 * forward
    assert inference.work.bytes == pytest.approx(10 * leaf_bytes / 2)


def test_factories_are_found_by_module_or_file_with_literal_arguments(tmp_path):
    path = tmp_path / "models.py"
    path.write_text("def build(width, depth=1):\n    return ('built', width, depth)\n")
    factory, args, kwargs = load_factory(f"{path}:build(8, depth=3)")
    assert factory(*args, **kwargs) == ("built", 8, 3)
    factory, args, kwargs = load_factory("json:dumps")
    assert (args, kwargs) == ((), {}) and factory([1]) == "[1]"
    with pytest.raises(ConfigError, match="literals"):
        load_factory("json:dumps(open('x'))")
    with pytest.raises(ConfigError, match="has no"):
        load_factory("json:nothing_here")
    with pytest.raises(ConfigError, match="not a model spec"):
        load_factory("124M")


def test_importing_explain_does_not_import_torch():
    code = (
        "import sys, jouleflow.explain, jouleflow.cli.explain; "
        "from jouleflow.explain import estimate, work_from_sizes, costs_for, load_tables; "
        "estimate(work_from_sizes(1e6, 1e6), costs_for(load_tables().device('h100'), 'bf16')); "
        "sys.exit('torch' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
