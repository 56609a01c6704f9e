"""An a-priori energy estimate for a training or inference job, with an interval.

    work = work_from_sizes(124e6, 1e9)                     # 6·N·D: 124M parameters, 1B tokens
    work = work_from_model("pkg.models:build(64, 512)", (128, 64), samples=60_000)  # on meta
    result = estimate(work, costs_for(load_tables().device("h100"), "bf16"))

FLOPs come from the model counted on meta tensors (``count_module_costs``: nothing is computed,
no memory is allocated), or from 6·N·D (training) / 2·N·D (inference) when only sizes are given
(Kaplan et al. 2020, "Scaling Laws for Neural Language Models"). Time is the larger of FLOPs /
(peak × utilisation) and bytes / (bandwidth × efficiency); energy is arithmetic + data movement
+ idle power × time. The interval: low with the low costs at the high utilisation; high is the
larger of the model with the high costs at the low utilisation and the device's TDP × that time
(a device cannot draw more than its TDP for long, so this bounds what the model leaves out).
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import math
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jouleflow.errors import ConfigError
from jouleflow.explain.records import ESTIMATE, Interval, Work
from jouleflow.explain.tables import Costs
from jouleflow.units import J_PER_KWH

TRAINING_UTILISATION = Interval(0.25, 0.40, 0.55)  # model FLOP utilisation: typical LLM training
INFERENCE_UTILISATION = Interval(0.10, 0.30, 0.50)
MEMORY_EFFICIENCY = 0.7  # share of the peak bandwidth a streaming kernel reaches
TOKENS_PER_STEP = 524_288  # 0.5 M tokens per optimizer step, for the size-only training bytes
_BYTES = {"fp64": 8, "fp32": 4, "tf32": 4, "bf16": 2, "fp16": 2, "fp8": 1, "int8": 1}
_SUFFIX = {"k": 1e3, "m": 1e6, "b": 1e9, "g": 1e9, "t": 1e12}


@dataclass(frozen=True, slots=True)
class JobWork:
    """What a job will compute, and how that was worked out."""

    description: str
    work: Work
    training: bool
    flops_method: str
    bytes_method: str
    label: str = ESTIMATE


@dataclass(frozen=True, slots=True)
class Estimate:
    job: JobWork
    costs: Costs
    utilisation: Interval
    duration_s: Interval  # at the high, central and low utilisation
    arithmetic_j: float  # the central model's parts
    data_j: float
    static_j: float
    energy_j: Interval
    bound: str  # compute | memory: which limit sets the time
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "job": {
                "description": self.job.description,
                "training": self.job.training,
                "flops": self.job.work.flops,
                "bytes": self.job.work.bytes,
                "flops_method": self.job.flops_method,
                "bytes_method": self.job.bytes_method,
                "label": self.job.label,
            },
            "costs": self.costs.to_dict(),
            "utilisation": self.utilisation.to_dict(),
            "duration_s": self.duration_s.to_dict(),
            "parts_j": {
                "arithmetic": self.arithmetic_j,
                "data_movement": self.data_j,
                "static": self.static_j,
            },
            "energy_j": self.energy_j.to_dict(),
            "energy_kwh": {k: v / J_PER_KWH for k, v in self.energy_j.to_dict().items()},
            "bound": self.bound,
            "label": ESTIMATE,
            "notes": list(self.notes),
        }


def parse_count(text: str | float | int) -> float:
    """``124M``, ``7B``, ``1.5e9``, ``1_000_000`` -> a number."""
    if isinstance(text, (int, float)):
        return float(text)
    cleaned = text.strip().replace("_", "").replace(",", "").lower()
    match = re.fullmatch(r"([0-9.]+(?:e[+-]?\d+)?)([kmbgt]?)", cleaned)
    if match is None:
        raise ConfigError(f"not a count: {text!r}", fix="write it as 124M, 7B, 1.5e9 or 1000000")
    return float(match.group(1)) * _SUFFIX.get(match.group(2), 1.0)


def work_from_sizes(
    params: float,
    tokens: float,
    *,
    training: bool = True,
    precision: str = "bf16",
    batch: int = 1,
    tokens_per_step: float = TOKENS_PER_STEP,
) -> JobWork:
    """6·N·D (training) or 2·N·D (inference) FLOPs for a transformer of N parameters.

    Bytes, an estimate: training reads the weights in forward and backward and writes their
    gradients (3·N·s per step, s bytes per parameter) and updates fp32 master weights and two
    Adam moments (read + write, 24·N) once per step of ``tokens_per_step`` tokens; inference
    decoding reads every weight once per token batch of ``batch``. Activations are left out.
    """
    size = _BYTES.get(precision, 2)
    if training:
        steps = max(tokens / tokens_per_step, 1.0)
        return JobWork(
            f"{_human(params)} parameters × {_human(tokens)} tokens, training",
            Work(6 * params * tokens, params * (3 * size + 24) * steps),
            True,
            "6·N·D (Kaplan et al. 2020): forward 2·N·D + backward 4·N·D",
            f"weights read twice and gradients written ({3 * size} B/param) plus fp32 Adam "
            f"state read and written (24 B/param), per step of {_human(tokens_per_step)} tokens; "
            "activations not counted",
        )
    return JobWork(
        f"{_human(params)} parameters × {_human(tokens)} tokens, inference",
        Work(2 * params * tokens, params * size * tokens / max(batch, 1)),
        False,
        "2·N·D (Kaplan et al. 2020): one forward pass per token",
        f"every weight read once per decoding step of {batch} token(s) ({size} B/param); "
        "KV cache and activations not counted",
    )


def load_factory(spec: str) -> tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]:
    """``pkg.mod:build``, ``path/to/file.py:build(64, hidden=512)`` -> (callable, args, kwargs)."""
    target, sep, call = spec.rpartition(":")
    if not sep or not target or not call:
        raise ConfigError(
            f"not a model spec: {spec!r}",
            fix="give a parameter count (124M) or MODULE:FACTORY(ARGS), e.g. "
            "examples/train_small.py:build_model(64, 512, 10)",
        )
    try:
        node = ast.parse(call.strip(), mode="eval").body
        if isinstance(node, ast.Call):
            name = ast.unparse(node.func)
            args = tuple(ast.literal_eval(a) for a in node.args)
            kwargs = {k.arg: ast.literal_eval(k.value) for k in node.keywords if k.arg}
        else:
            name, args, kwargs = ast.unparse(node), (), {}
    except (SyntaxError, ValueError) as err:
        raise ConfigError(f"cannot read {call!r}: {err}", fix="arguments must be literals") from err
    if target.endswith(".py"):
        path = Path(target)
        if not path.is_file():
            raise ConfigError(f"no file {target}")
        module_spec = importlib.util.spec_from_file_location(path.stem, path)
        assert module_spec is not None and module_spec.loader is not None
        module = importlib.util.module_from_spec(module_spec)
        sys.modules.setdefault(path.stem, module)
        module_spec.loader.exec_module(module)
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as err:
            raise ConfigError(f"cannot import {target}: {err}") from err
    factory: Any = module
    for part in name.split("."):
        factory = getattr(factory, part, None)
        if factory is None:
            raise ConfigError(f"{target} has no {name}")
    return factory, args, kwargs


def work_from_model(
    spec: str | Callable[[], Any],
    input_shape: Sequence[int],
    *,
    steps: float,
    training: bool = True,
    precision: str = "fp32",
    input_dtype: str = "float",
) -> JobWork:
    """Count one step of the model on meta tensors, then multiply by ``steps``.

    The model is built on the meta device (no memory, nothing computed), cast to the precision,
    and given one input of ``input_shape`` (``input_dtype`` ``float`` or ``long`` for token ids);
    a training step adds ``.sum().backward()`` on its first output. FLOPs are counted exactly
    (forward and backward); bytes are each leaf module's parameters, inputs and outputs, with
    backward taken as 2 × forward.
    """
    import torch

    from jouleflow.integrations.flops import count_module_costs

    if isinstance(spec, str):
        factory, args, kwargs = load_factory(spec)
        label = spec
    else:
        factory, args, kwargs, label = spec, (), {}, getattr(spec, "__name__", "model")
    dtype = {"fp64": torch.float64, "bf16": torch.bfloat16, "fp16": torch.float16}.get(
        precision, torch.float32
    )
    with torch.device("meta"):
        model = factory(*args, **kwargs)
    if not isinstance(model, torch.nn.Module):
        raise ConfigError(f"{label} did not return a torch.nn.Module")
    model = model.to(dtype)
    model.train(training)
    if input_dtype == "long":
        x = torch.zeros(tuple(input_shape), dtype=torch.long, device="meta")
    else:
        x = torch.zeros(tuple(input_shape), dtype=dtype, device="meta")

    def run_step() -> None:
        out = model(x)
        if training:
            first = _first_tensor(out)
            if first is None:
                raise ConfigError(f"{label} returned no tensor to take a gradient of")
            first.float().sum().backward()

    if not training:
        with torch.no_grad():
            costs = count_module_costs(model, run_step, depth=64)
    else:
        costs = count_module_costs(model, run_step, depth=64)
    names = [n for n in costs.modules if n]
    leaves = [n for n in names if not any(m.startswith(n + ".") for m in names)] or [""]
    step_bytes = sum(costs.modules[n].bytes_moved for n in leaves)
    factor = 1 + 2 * training
    narrow = _BYTES.get(precision, 4) / 4 if precision in ("fp8", "int8") else 1.0
    shape = "×".join(str(s) for s in input_shape)
    kind = "training" if training else "inference"
    return JobWork(
        f"{label} on input {shape}, {_human(steps)} steps, {kind}",
        Work(costs.total_flops * steps, step_bytes * factor * steps * narrow),
        training,
        "counted on meta tensors (jouleflow.integrations.flops.count_module_costs: "
        "FlopCounterMode plus attention and LayerNorm formulas), forward"
        + (" and backward" if training else ""),
        "each leaf module's parameters, inputs and outputs per step (a lower bound)"
        + ("; backward taken as 2 × forward" if training else ""),
    )


def _first_tensor(out: Any) -> Any:
    import torch

    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, dict):
        out = list(out.values())
    if isinstance(out, (list, tuple)):
        for item in out:
            found = _first_tensor(item)
            if found is not None:
                return found
    return getattr(out, "logits", None)


def estimate(
    job: JobWork,
    costs: Costs,
    *,
    utilisation: Interval | None = None,
    memory_efficiency: float = MEMORY_EFFICIENCY,
) -> Estimate:
    """Energy and time of ``job`` on ``costs``' device, with an interval (see the module doc)."""
    util = utilisation or (TRAINING_UTILISATION if job.training else INFERENCE_UTILISATION)
    if not 0 < util.low <= util.central <= util.high <= 1:
        raise ConfigError(f"utilisation {util} must be 0 < low <= central <= high <= 1")
    flops, nbytes = job.work.flops, job.work.bytes
    peak, bandwidth = costs.peak_flops.value, costs.bandwidth.value * memory_efficiency

    def seconds(u: float) -> float:
        return max(flops / (peak * u), nbytes / bandwidth)

    jf, jb, idle = costs.j_per_flop, costs.j_per_byte, costs.idle_w

    def lo(fig: Any) -> float:
        return float(fig.low if fig.low is not None else fig.value)

    def hi(fig: Any) -> float:
        return float(fig.high if fig.high is not None else fig.value)

    t_fast, t_mid, t_slow = seconds(util.high), seconds(util.central), seconds(util.low)
    arithmetic, data, static = flops * jf.value, nbytes * jb.value, idle.value * t_mid
    low = flops * lo(jf) + nbytes * lo(jb) + lo(idle) * t_fast
    model_high = flops * hi(jf) + nbytes * hi(jb) + hi(idle) * t_slow
    high = max(model_high, costs.tdp_w.value * t_slow)
    central = arithmetic + data + static
    bound = "compute" if flops / (peak * util.central) >= nbytes / bandwidth else "memory"
    notes = list(costs.notes)
    notes.append(
        f"utilisation (achieved / peak FLOP/s) {util.low:.0%}-{util.high:.0%}, "
        f"{util.central:.0%} central: an assumption, not a measurement"
    )
    notes.append(
        "the central figure counts only arithmetic, off-chip data movement and idle power; "
        "measured runs usually draw more (see `jouleflow explain`): the high end allows the "
        "device's TDP for the slowest time"
    )
    return Estimate(
        job=job,
        costs=costs,
        utilisation=util,
        duration_s=Interval(t_fast, t_mid, t_slow),
        arithmetic_j=arithmetic,
        data_j=data,
        static_j=static,
        energy_j=Interval(min(low, central), central, max(high, central)),
        bound=bound,
        notes=tuple(notes),
    )


def _human(n: float) -> str:
    for suffix, size in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            value = n / size
            return (
                f"{value:.3g}{suffix}"
                if not math.isclose(value, round(value))
                else (f"{round(value)}{suffix}")
            )
    return f"{n:g}"
