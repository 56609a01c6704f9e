"""Count the FLOPs and bytes of each module of a PyTorch model, over one step the caller runs.

Pure counting: no clock, no sensor. ``count_module_costs(model, run_step)`` runs ``run_step()``
once (a forward, or forward + backward) under ``torch.utils.flop_counter.FlopCounterMode`` and
returns frozen per-module records. Only torch users import this module; jouleflow's core never does.

How forward and backward are told apart: ``FlopCounterMode.get_flop_counts()`` keys its counts by
``ModuleTracker`` names (``"Sequential"``, ``"Sequential.0"``: the root's class name, then the
attribute path; plus ``"Global"``) and, in torch 2.13, adds each module's backward ops to the same
key as its forward ones (no ``"(backward)"`` entry). So every formula is wrapped: each counted op
is also added here, as forward or backward (backward while an autograd graph task runs on the
thread, the test ``ModuleTracker.is_bw`` uses), to the modules then active. A module is active in
forward between its forward pre-hook and hook, and in backward from when its outputs' gradients
are ready until its inputs' gradients are (or, when no input needs a gradient, its parameters').
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import torch
from torch.autograd.graph import register_multi_grad_hook
from torch.utils.flop_counter import (
    FlopCounterMode,
    flop_registry,
    sdpa_backward_flop_count,
    sdpa_flop_count,
)
from torch.utils.hooks import RemovableHandle

__all__ = ["METHOD", "ModuleCost", "ModuleCosts", "count_module_costs"]

METHOD = (
    "FLOPs: torch.utils.flop_counter.FlopCounterMode (matmul, convolution, attention; 2 FLOPs per "
    "multiply-add), plus jouleflow's formulas for CPU scaled-dot-product attention, the "
    "nn.MultiheadAttention / TransformerEncoderLayer inference fast paths and LayerNorm (5 FLOPs "
    "per element forward, +1 each for weight and bias; backward 9 (+1 with weight) for the input "
    "gradient, 2 for the weight's, 1 for the bias'). Other elementwise ops, reductions, softmax "
    "and other norms are not counted. Attention is counted in full even when causal or masked. A "
    "module's FLOPs include its submodules'; forward vs backward is split by whether autograd's "
    "engine is running; a backward op is credited to each module whose backward is open, and a "
    "module whose inputs need no gradient stays open until its parameters' gradients are done. "
    "Bytes: tensor sizes (numel x element size) seen by forward hooks; bytes_moved = parameters "
    "and buffers read once + the inputs read and outputs written by every forward call: a lower "
    "bound that ignores cache reuse, re-reads, intermediates inside the module, and backward "
    "traffic."
)

# LayerNorm, counted per element of the input (the textbook algorithm, not any kernel's).
_LN_FORWARD = 5  # subtract the mean, square, two accumulations (mean, variance), scale by rstd
_LN_BACKWARD_INPUT = 9  # recompute x_hat (2), two reductions (3), combine (4)


@dataclass(frozen=True, slots=True)
class ModuleCost:
    """What one module (by qualified name; the root is ``""``) cost over the counted step."""

    name: str
    type_name: str
    calls: int  # forward calls outside backward
    forward_flops: int
    backward_flops: int
    param_bytes: int
    buffer_bytes: int
    activation_bytes_in: int
    activation_bytes_out: int
    precision: str  # dtype of the parameters ("float32", "mixed(bfloat16,float32)", "none")

    @property
    def total_flops(self) -> int:
        return self.forward_flops + self.backward_flops

    @property
    def bytes_moved(self) -> int:
        """A lower bound: parameters and buffers read once, inputs read, outputs written."""
        return (
            self.param_bytes
            + self.buffer_bytes
            + self.activation_bytes_in
            + self.activation_bytes_out
        )


@dataclass(frozen=True, slots=True)
class ModuleCosts:
    """Per-module costs by name (``named_modules`` order); the step's totals include ops outside
    the modules (a loss function, say). ``costs["encoder"]`` is ``costs.modules["encoder"]``."""

    modules: Mapping[str, ModuleCost]  # read-only
    forward_flops: int
    backward_flops: int
    flops_by_op: tuple[tuple[str, int], ...]  # ("aten.mm", flops), largest first
    method: str = METHOD

    @property
    def total_flops(self) -> int:
        return self.forward_flops + self.backward_flops

    def __getitem__(self, name: str) -> ModuleCost:
        return self.modules[name]


def count_module_costs(
    model: torch.nn.Module, run_step: Callable[[], Any], depth: int = 2
) -> ModuleCosts:
    """Run ``run_step()`` once and count each module's FLOPs and bytes, to ``depth`` levels.

    Works on the meta device (meta parameters and inputs: nothing is computed, shapes are); there
    torch takes the math path of scaled-dot-product attention, whose backward is counted as its
    four matmuls rather than the fused kernels' five.
    """
    counting = _Counting()
    mapping = {op: _Formula(f, counting) for op, f in {**flop_registry, **_EXTRA}.items()}
    handles: list[RemovableHandle] = []
    selected = [
        (name, module)
        for name, module in model.named_modules()
        if (0 if name == "" else name.count(".") + 1) <= depth
    ]
    try:
        for name, module in selected:
            handles.append(module.register_forward_pre_hook(counting.pre(name), with_kwargs=True))
            handles.append(
                module.register_forward_hook(
                    counting.post(name), with_kwargs=True, always_call=True
                )
            )
        with FlopCounterMode(display=False, custom_mapping=mapping) as counter:
            run_step()
    finally:
        for handle in handles + counting.grad_hooks:
            handle.remove()
    by_op = Counter({str(op): n for op, n in counter.get_flop_counts().get("Global", {}).items()})
    return ModuleCosts(
        modules=MappingProxyType(
            {name: _record(name, module, counting.tallies.get(name)) for name, module in selected}
        ),
        forward_flops=counting.forward_flops,
        backward_flops=counting.backward_flops,
        flops_by_op=tuple(by_op.most_common()),
    )


@dataclass
class _Tally:
    calls: int = 0
    forward_flops: int = 0
    backward_flops: int = 0
    bytes_in: int = 0
    bytes_out: int = 0


@dataclass
class _Counting:
    tallies: dict[str, _Tally] = field(default_factory=dict)
    in_forward: Counter[str] = field(default_factory=Counter)
    in_backward: Counter[str] = field(default_factory=Counter)
    grad_hooks: list[RemovableHandle] = field(default_factory=list)
    forward_flops: int = 0
    backward_flops: int = 0

    def add(self, flops: int) -> None:
        if _in_backward():
            self.backward_flops += flops
            for name in +self.in_backward:
                self.tallies.setdefault(name, _Tally()).backward_flops += flops
        else:
            self.forward_flops += flops
            for name in +self.in_forward:
                self.tallies.setdefault(name, _Tally()).forward_flops += flops

    def pre(self, name: str) -> Callable[[torch.nn.Module, Any, Any], None]:
        def hook(module: torch.nn.Module, args: Any, kwargs: Any) -> None:
            if _in_backward():  # a recomputation (activation checkpointing) is backward work
                return
            self.in_backward.clear()  # outside backward none is open; drop any never closed
            self.in_forward[name] += 1
            needing = [t for t in _tensors((args, kwargs)) if t.requires_grad]
            needing = needing or [p for p in module.parameters() if p.requires_grad]
            if needing:  # its backward closes once these have their gradients
                self._on_grads(needing, name, -1)

        return hook

    def post(self, name: str) -> Callable[[torch.nn.Module, Any, Any, Any], None]:
        def hook(module: torch.nn.Module, args: Any, kwargs: Any, output: Any) -> None:
            if _in_backward():
                return
            self.in_forward[name] -= 1
            tally = self.tallies.setdefault(name, _Tally())
            tally.calls += 1
            tally.bytes_in += _nbytes(_tensors((args, kwargs)))
            outputs = list(_tensors(output))
            tally.bytes_out += _nbytes(outputs)
            needing = [t for t in outputs if t.requires_grad]
            if needing:  # its backward opens once its outputs have their gradients
                self._on_grads(needing, name, +1)

        return hook

    def _on_grads(self, tensors: list[torch.Tensor], name: str, step: int) -> None:
        def fn(_grads: object) -> None:
            self.in_backward[name] += step

        self.grad_hooks.append(register_multi_grad_hook(tensors, fn))


class _Formula:
    """Wraps a FLOP formula so each count is also credited, as forward or backward, to modules."""

    _get_raw = True  # FlopCounterMode passes the op's tensors (and out_val) as they are

    def __init__(self, count: Callable[..., Any], counting: _Counting) -> None:
        self.count = count
        self.counting = counting

    def __call__(self, *args: Any, **kwargs: Any) -> int:
        flops = int(self.count(*args, **kwargs))
        self.counting.add(flops)
        return flops


def _in_backward() -> bool:
    return bool(torch._C._current_graph_task_id() != -1)  # as ModuleTracker.is_bw


def _tensors(obj: Any) -> Iterator[torch.Tensor]:
    """Each distinct tensor in nested tuples, lists, dicts (ModelOutput) and dataclasses."""
    seen: set[int] = set()
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, torch.Tensor):
            if id(item) not in seen:
                seen.add(id(item))
                yield item
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        elif dataclasses.is_dataclass(item) and not isinstance(item, type):
            stack.extend(getattr(item, f.name) for f in dataclasses.fields(item))


def _nbytes(tensors: Any) -> int:
    return sum(t.nelement() * t.element_size() for t in tensors)


def _record(name: str, module: torch.nn.Module, tally: _Tally | None) -> ModuleCost:
    tally = tally or _Tally()
    dtypes = sorted({str(p.dtype).removeprefix("torch.") for p in module.parameters()})
    precision = ",".join(dtypes) if len(dtypes) < 2 else f"mixed({','.join(dtypes)})"
    return ModuleCost(
        name=name,
        type_name=type(module).__name__,
        calls=tally.calls,
        forward_flops=tally.forward_flops,
        backward_flops=tally.backward_flops,
        param_bytes=_nbytes(module.parameters()),
        buffer_bytes=_nbytes(module.buffers()),
        activation_bytes_in=tally.bytes_in,
        activation_bytes_out=tally.bytes_out,
        precision=precision or "none",
    )


# Formulas for ops torch 2.13's registry leaves out; each takes the op's arguments as passed.
def _attention(q: Any, k: Any, v: Any, *_: Any, **__: Any) -> int:
    return int(sdpa_flop_count(q.shape, k.shape, v.shape))  # type: ignore[no-untyped-call]


def _attention_backward(grad: Any, q: Any, k: Any, v: Any, *_: Any, **__: Any) -> int:
    shapes = (grad.shape, q.shape, k.shape, v.shape)
    return int(sdpa_backward_flop_count(*shapes))  # type: ignore[no-untyped-call]


def _layer_norm(x: Any, _shape: Any, weight: Any, bias: Any, *_: Any, **__: Any) -> int:
    return int(x.numel() * (_LN_FORWARD + (weight is not None) + (bias is not None)))


def _layer_norm_backward(grad: Any, x: Any, *args: Any, **__: Any) -> int:
    weight, mask = args[3], args[5]  # (normalized_shape, mean, rstd, weight, bias, output_mask)
    per_element = (_LN_BACKWARD_INPUT + (weight is not None)) * mask[0] + 2 * mask[1] + mask[2]
    return int(x.numel() * per_element)


def _self_attention_block(batch: int, q_len: int, kv_len: int, embed: int) -> int:
    projections = 2 * batch * embed * embed * (2 * q_len + 2 * kv_len)  # q, k, v, out
    return projections + 4 * batch * q_len * kv_len * embed


def _native_mha(q: Any, k: Any, v: Any, embed: int, *_: Any, **__: Any) -> int:
    """nn.MultiheadAttention's inference fast path: (batch, length, embed) inputs."""
    return _self_attention_block(q.size(0), q.size(1), k.size(1), embed)


def _encoder_layer(src: Any, embed: int, *args: Any, **__: Any) -> int:
    """nn.TransformerEncoderLayer's inference fast path: attention, feed-forward, two LayerNorms."""
    batch, length = src.size(0), src.size(1)
    hidden = args[12].size(0)  # ffn_weight_1: (dim_feedforward, embed)
    feed_forward = 2 * 2 * batch * length * embed * hidden
    norms = 2 * batch * length * embed * (_LN_FORWARD + 2)
    return int(_self_attention_block(batch, length, length, embed) + feed_forward + norms)


_FORMULAS: dict[str, Callable[..., int]] = {
    "_scaled_dot_product_flash_attention_for_cpu": _attention,
    "_scaled_dot_product_flash_attention_for_cpu_backward": _attention_backward,
    "_scaled_dot_product_fused_attention_overrideable": _attention,
    "_scaled_dot_product_fused_attention_overrideable_backward": _attention_backward,
    "_scaled_dot_product_attention_math_for_mps": _attention,
    "native_layer_norm": _layer_norm,
    "native_layer_norm_backward": _layer_norm_backward,
    "_native_multi_head_attention": _native_mha,
    "_transformer_encoder_layer_fwd": _encoder_layer,
}
_EXTRA = {  # ops differ between torch versions: map those this one has
    getattr(torch.ops.aten, name): formula
    for name, formula in _FORMULAS.items()
    if hasattr(torch.ops.aten, name)
}
