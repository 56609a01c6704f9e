"""Energy per training phase and per layer for PyTorch, with almost no code change.

    with jouleflow.track() as run:
        watcher = jouleflow.torch.watch(model, optimizer=opt, dataloader=loader, run=run)
        for epoch in range(3):
            for x, y in loader: ...   # the usual loop, unchanged

The watcher only records phase edges through ``run.phase`` (STYLE.md #11); attribution itself
stays a pure function of the timeline and the edges. Phases are a state machine driven by hooks:

- ``data``: waiting on the DataLoader's ``__next__``;
- ``forward``: the model's forward (root module pre/post hooks);
- ``backward``: from the moment the gradient reaches the model's output until the optimizer steps
  (or the next forward/data wait when there is no optimizer);
- ``optimizer``: ``optimizer.step()`` (step pre/post hooks);
- ``other``: everything else inside the loop (loss, logging, zero_grad...).

Each epoch (one pass over the DataLoader) is also an outer phase ``epoch``.

On CUDA, kernels run asynchronously: without ``sync=True`` a phase edge is recorded when the work
is *queued*, so GPU energy lands in whichever phase is open while the GPU executes it (often
``data`` or ``other`` of the next step). ``sync=True`` calls ``torch.cuda.synchronize()`` at every
edge so GPU energy lands in the phase that queued it, at the cost of removing CPU/GPU overlap.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from jouleflow.tracker import Phase, Run

TRAINING_PHASES = ("data", "forward", "backward", "optimizer", "other")


@dataclass(frozen=True, slots=True)
class LayerEnergy:
    """One module's share of the forward and backward energy, by its measured forward time."""

    name: str
    type: str
    calls: int
    forward_time_s: float
    time_share: float  # of the forward phase's time
    energy_j: float  # forward + backward shares
    flops: float | None = None
    bytes_moved: float | None = None

    @property
    def j_per_flop(self) -> float | None:
        return self.energy_j / self.flops if self.flops else None


LAYER_METHOD = (
    "each module's share of the forward phase's energy is its share of the forward phase's "
    "measured time (module pre/post hooks); the backward phase is split by the same shares, "
    "since backward hooks would break in-place operations; time spent outside the listed "
    "modules stays unattributed"
)


def _first_grad_tensor(output: Any) -> torch.Tensor | None:
    if isinstance(output, torch.Tensor):
        return output if output.requires_grad else None
    if isinstance(output, dict):
        output = list(output.values())
    if isinstance(output, (list, tuple)):
        for item in output:
            found = _first_grad_tensor(item)
            if found is not None:
                return found
    return None


def layer_modules(model: nn.Module, depth: int) -> dict[str, nn.Module]:
    """Disjoint modules to time: those at ``depth``, plus shallower leaves."""
    chosen: dict[str, nn.Module] = {}
    for name, module in model.named_modules():
        if not name:
            continue
        level = name.count(".") + 1
        if level == depth or (level < depth and not any(True for _ in module.children())):
            chosen[name] = module
    return chosen


class Watcher:
    """Hooks on a model, its optimizer and its DataLoader that record phase edges in a run."""

    def __init__(
        self,
        run: Run,
        model: nn.Module,
        optimizer: torch.optim.Optimizer | None = None,
        dataloader: Any = None,
        *,
        layers: bool = False,
        depth: int = 2,
        sync: bool = False,
    ) -> None:
        self.run = run
        self.model = model
        self.sync = sync and torch.cuda.is_available()
        self.steps = 0
        self.epochs = 0
        self._phase: Phase | None = None
        self._epoch: Phase | None = None
        self.current: str | None = None
        self._handles: list[Any] = []
        self._dataloader = dataloader
        self._dataloader_class: type | None = None
        self.layer_time_ns: dict[str, int] = {}
        self.layer_calls: dict[str, int] = {}
        self.layer_types: dict[str, str] = {}
        self._handles.append(model.register_forward_pre_hook(self._forward_starts))
        self._handles.append(model.register_forward_hook(self._forward_ends))
        if optimizer is not None:
            self._handles.append(optimizer.register_step_pre_hook(self._step_starts))
            self._handles.append(optimizer.register_step_post_hook(self._step_ends))
        if dataloader is not None:
            self._watch_dataloader(dataloader)
        if layers:
            for name, module in layer_modules(model, depth).items():
                self._time_layer(name, module)

    # -- the state machine --------------------------------------------------------------------
    def enter(self, name: str) -> None:
        """Close the current phase and open ``name`` (a no-op if it is already open)."""
        if name == self.current:
            return
        if self.sync:
            torch.cuda.synchronize()
        self._phase = self.run.switch(self._phase, name)
        self.current = name

    def _leave(self) -> None:
        if self._phase is not None:
            if self.sync:
                torch.cuda.synchronize()
            self._phase.close()
            self._phase = None
            self.current = None

    def _forward_starts(self, module: nn.Module, args: Any) -> None:
        self.enter("forward")

    def _forward_ends(self, module: nn.Module, args: Any, output: Any) -> None:
        self.enter("other")
        if torch.is_grad_enabled():
            tensor = _first_grad_tensor(output)
            if tensor is not None:
                tensor.register_hook(self._backward_starts)  # type: ignore[no-untyped-call]

    def _backward_starts(self, grad: torch.Tensor) -> None:
        self.enter("backward")

    def _step_starts(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        self.enter("optimizer")

    def _step_ends(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        self.steps += 1
        self.enter("other")

    # -- the DataLoader -----------------------------------------------------------------------
    def _watch_dataloader(self, dataloader: Any) -> None:
        """Give this DataLoader instance a subclass whose iterator records ``data`` waits."""
        watcher = self
        original = type(dataloader)

        def __iter__(loader: Any) -> Iterator[Any]:
            return watcher._iterate(original.__iter__(loader))

        watched = type(f"Watched{original.__name__}", (original,), {"__iter__": __iter__})
        dataloader.__class__ = watched
        self._dataloader_class = original

    def _iterate(self, iterator: Iterator[Any]) -> Iterator[Any]:
        if self._epoch is not None:  # the previous pass was abandoned early
            self._end_epoch()
        self._epoch = self.run.phase("epoch")
        self._epoch.__enter__()
        try:
            while True:
                self.enter("data")
                try:
                    batch = next(iterator)
                except StopIteration:
                    break
                self.enter("other")
                yield batch
        finally:
            self._leave()
            self._end_epoch()

    def _end_epoch(self) -> None:
        if self._epoch is not None:
            self._epoch.__exit__(None, None, None)
            self._epoch = None
            self.epochs += 1

    # -- layers -------------------------------------------------------------------------------
    def _time_layer(self, name: str, module: nn.Module) -> None:
        started: list[int] = []
        self.layer_time_ns[name] = 0
        self.layer_calls[name] = 0
        self.layer_types[name] = type(module).__name__

        def pre(mod: nn.Module, args: Any) -> None:
            started.append(time.perf_counter_ns())

        def post(mod: nn.Module, args: Any, output: Any) -> None:
            if started:
                self.layer_time_ns[name] += time.perf_counter_ns() - started.pop()
                self.layer_calls[name] += 1

        self._handles.append(module.register_forward_pre_hook(pre))
        self._handles.append(module.register_forward_hook(post))

    def layers(self, costs: Any = None) -> tuple[list[LayerEnergy], float]:
        """Layer energies ranked, and the forward+backward energy left unattributed (J).

        ``costs`` (from ``jouleflow.integrations.flops.count_module_costs``) adds FLOPs and
        bytes per module when given.
        """
        result = self.run.result
        ids = result.total_ids
        forward = next((p for p in result.phases if p.name == "forward"), None)
        if forward is None or forward.duration_s <= 0:
            return [], 0.0
        backward = next((p for p in result.phases if p.name == "backward"), None)
        energy_j = forward.self_total_j(ids) + (backward.self_total_j(ids) if backward else 0.0)
        rows = []
        for name, time_ns in self.layer_time_ns.items():
            share = time_ns / 1e9 / forward.duration_s
            module_costs = costs.modules.get(name) if costs is not None else None
            rows.append(
                LayerEnergy(
                    name=name,
                    type=self.layer_types[name],
                    calls=self.layer_calls[name],
                    forward_time_s=time_ns / 1e9,
                    time_share=share,
                    energy_j=energy_j * share,
                    flops=module_costs.total_flops if module_costs else None,
                    bytes_moved=module_costs.bytes_moved if module_costs else None,
                )
            )
        rows.sort(key=lambda r: r.energy_j, reverse=True)
        return rows, energy_j - sum(r.energy_j for r in rows)

    # -- lifecycle ----------------------------------------------------------------------------
    def close(self) -> None:
        """Close open phases and remove every hook (also restores the DataLoader's class)."""
        self._leave()
        self._end_epoch()
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        if self._dataloader is not None and self._dataloader_class is not None:
            self._dataloader.__class__ = self._dataloader_class
            self._dataloader_class = None


def watch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    dataloader: Any = None,
    *,
    run: Run,
    layers: bool = False,
    depth: int = 2,
    sync: bool = False,
) -> Watcher:
    """Attribute ``run``'s energy to training phases (and layers) of this model."""
    if not run.running:
        raise RuntimeError("watch() needs a running measurement: call it inside `with track()`")
    return Watcher(run, model, optimizer, dataloader, layers=layers, depth=depth, sync=sync)
