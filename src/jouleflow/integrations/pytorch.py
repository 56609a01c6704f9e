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

import dataclasses
import functools
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn

from jouleflow.attribution.forecast import Budget, BudgetVerdict, Forecast, Forecaster
from jouleflow.attribution.journal import PhaseStream
from jouleflow.records import LayerBreakdown, LayerEnergy, RunResult
from jouleflow.tracker import Phase, Run

_log = logging.getLogger("jouleflow")

TRAINING_PHASES = ("data", "forward", "backward", "optimizer", "other")


LAYER_METHOD = (
    "each module's share of the forward phase's energy is its share of the forward phase's "
    "measured time (module pre/post hooks); the backward phase is split by the same shares, "
    "since backward hooks would break in-place operations; time spent outside the listed "
    "modules stays unattributed. FLOPs and bytes come from one extra forward pass under "
    "torch.utils.flop_counter.FlopCounterMode (phase 'flop-count'), backward FLOPs from the "
    "usual 2x forward for matrix products; bytes are a lower bound (parameters read once, "
    "inputs read and outputs written, no cache effects)"
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


_BACKWARD_HOOK_KEY = "jouleflow:backward-starts"


def _on_gradient(tensor: torch.Tensor, hook: Any) -> None:
    """``tensor.register_hook(hook)``, without the handle nobody removes: once a step.

    ``Tensor.register_hook`` is a Python wrapper whose checks and ``RemovableHandle`` cost ~50 µs
    inside a training step (measured on the example model: 1 % of its step, as much as three
    phase edges); what it does underneath is two lines, done here for a plain tensor that has
    no hooks yet. The dictionary is the one ``register_hook`` would make (an ``OrderedDict``,
    so a hook the user adds later gets its handle); any other case takes the public way.
    """
    if type(tensor) is torch.Tensor and tensor._backward_hooks is None:
        register = getattr(tensor.grad_fn, "_register_hook_dict", None)
        if register is not None:
            tensor._backward_hooks = OrderedDict(((_BACKWARD_HOOK_KEY, hook),))
            register(tensor)
            return
    tensor.register_hook(hook)  # type: ignore[no-untyped-call]


def _enterer(
    mark: Callable[[PhaseStream, str | None], None], stream: PhaseStream, sync: bool
) -> Callable[[str], None]:
    """``Watcher.enter``: ``mark`` bound to the watcher's stream, with no frame of its own.

    Each training step makes seven edges, and inside a step every frame and attribute an edge
    touches has been pushed out of the CPU's caches by the step's own work: a method that looks
    up the watcher's attributes costs microseconds there. (Marking the open phase again does
    nothing: attribution/journal.py.)
    """
    if not sync:
        return functools.partial(mark, stream)
    synchronize = torch.cuda.synchronize

    def enter_synchronised(name: str) -> None:
        if name != stream.current:
            synchronize()
            mark(stream, name)

    return enter_synchronised


_CONTAINERS = (nn.ModuleList, nn.ModuleDict)


def layer_modules(model: nn.Module, depth: int) -> dict[str, nn.Module]:
    """Disjoint modules to time: those at ``depth``, plus shallower leaves.

    ``ModuleList`` and ``ModuleDict`` are never called themselves, so they do not count as a
    level: GPT-2's blocks (``transformer.h.0``) are at depth 2 like ``transformer.wte``.
    """
    modules = dict(model.named_modules())
    chosen: dict[str, nn.Module] = {}
    for name, module in modules.items():
        if not name or isinstance(module, _CONTAINERS):
            continue
        parts = name.split(".")
        level = sum(
            not isinstance(modules[".".join(parts[: k + 1])], _CONTAINERS)
            for k in range(len(parts))
        )
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
        flops: bool = True,
        epochs: int | None = None,
        warmup_epochs: int = 1,
        budget: Budget | None = None,
    ) -> None:
        self.run = run
        self.forecaster = Forecaster(epochs, warmup_units=warmup_epochs) if epochs else None
        self.forecast: Forecast | None = None
        self.budget = budget
        self.budget_verdict: BudgetVerdict | None = None
        self.should_stop = False
        self.model = model
        self.sync = sync and torch.cuda.is_available()
        self.steps = 0
        self.epochs = 0
        self._stream = run.stream()  # data/forward/backward/optimizer/other, one at a time
        self.enter = _enterer(run.marker(), self._stream, self.sync)
        self._epoch: Phase | None = None
        self._handles: list[Any] = []
        self._dataloader = dataloader
        self._dataloader_class: type | None = None
        self.layer_time_ns: dict[str, int] = {}
        self.layer_calls: dict[str, int] = {}
        self.layer_types: dict[str, str] = {}
        self._handles.append(
            model.register_forward_pre_hook(self._forward_starts, with_kwargs=True)
        )
        self._handles.append(model.register_forward_hook(self._forward_ends))
        if optimizer is not None:
            self._handles.append(optimizer.register_step_pre_hook(self._step_starts))
            self._handles.append(optimizer.register_step_post_hook(self._step_ends))
        if dataloader is not None:
            self._watch_dataloader(dataloader)
        self.depth = depth
        self.costs: Any = None
        self._count_flops = layers and flops
        self._counting = False
        if layers:
            for name, module in layer_modules(model, depth).items():
                self._time_layer(name, module)
            run.add_contributor(self._add_layers)
        run.add_contributor(self._add_forecast)

    # -- the state machine --------------------------------------------------------------------
    # ``enter(name)``: close the current phase and open ``name`` (nothing if it is open already);
    # bound in ``__init__`` (``_enterer``).

    @property
    def current(self) -> str | None:
        """The training phase open now (None between epochs)."""
        return self._stream.current

    def _leave(self) -> None:
        if self._stream.current is not None:
            if self.sync:
                torch.cuda.synchronize()
            self.run.mark(self._stream, None)

    def _forward_starts(self, module: nn.Module, args: Any, kwargs: Any) -> None:
        if self._counting:
            return
        if self._count_flops:
            self._count_flops = False
            self._measure_costs(args, kwargs)
        self.enter("forward")

    def _measure_costs(self, args: Any, kwargs: Any) -> None:
        """One extra forward under FlopCounterMode, in its own phase so its energy is visible."""
        from jouleflow.integrations.flops import count_module_costs

        previous = self.current
        self.enter("flop-count")
        self._counting = True
        try:
            with torch.no_grad():
                self.costs = count_module_costs(
                    self.model, lambda: self.model(*args, **kwargs), self.depth
                )
        finally:
            self._counting = False
        if previous is not None:
            self.enter(previous)

    def _forward_ends(self, module: nn.Module, args: Any, output: Any) -> None:
        if self._counting:
            return
        self.enter("other")
        # An output that requires grad implies grad mode: no separate check (every µs counts
        # here, seven edges a step). A plain tensor is the usual case; containers are searched.
        if isinstance(output, torch.Tensor):
            tensor = output if output.requires_grad else None
        else:
            tensor = _first_grad_tensor(output)
        if tensor is not None:
            _on_gradient(tensor, self._backward_starts)

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
        if self.should_stop:  # over budget with action="stop": the loop ends cleanly
            return
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
            epoch, self._epoch = self._epoch, None
            self.epochs += 1
            if self.forecaster is not None and self.epochs <= self.forecaster.total_units:
                self._update_forecast(epoch.energy_j, epoch.duration_s)

    def _update_forecast(self, energy_j: float, duration_s: float) -> None:
        """Predict the whole run after each epoch; check the budget against the prediction."""
        assert self.forecaster is not None
        forecast = self.forecaster.observe(energy_j, duration_s)
        if forecast is None:
            return
        self.forecast = forecast
        if self.budget is not None:
            self.budget_verdict = self.budget.check(forecast)
            if self.budget_verdict.exceeded:
                _log.warning("jouleflow: %s", self.budget_verdict.message)
                if self.budget.action == "stop":
                    self.should_stop = True

    # -- layers -------------------------------------------------------------------------------
    def _time_layer(self, name: str, module: nn.Module) -> None:
        started: list[int] = []
        self.layer_time_ns[name] = 0
        self.layer_calls[name] = 0
        self.layer_types[name] = type(module).__name__

        def pre(mod: nn.Module, args: Any) -> None:
            if not self._counting:
                started.append(time.perf_counter_ns())

        def post(mod: nn.Module, args: Any, output: Any) -> None:
            if started and not self._counting:
                self.layer_time_ns[name] += time.perf_counter_ns() - started.pop()
                self.layer_calls[name] += 1

        self._handles.append(module.register_forward_pre_hook(pre))
        self._handles.append(module.register_forward_hook(post))

    def layers(self, result: RunResult | None = None) -> LayerBreakdown:
        """Layer energies ranked, and the forward+backward energy no listed layer accounts for."""
        result = result or self.run.result
        ids = result.total_ids
        forward = next((p for p in result.phases if p.name == "forward"), None)
        backward = next((p for p in result.phases if p.name == "backward"), None)
        if forward is None or forward.duration_s <= 0:
            return LayerBreakdown((), 0.0, LAYER_METHOD)
        energy_j = forward.self_total_j(ids) + (backward.self_total_j(ids) if backward else 0.0)
        rows = []
        for name, time_ns in self.layer_time_ns.items():
            share = time_ns / 1e9 / forward.duration_s
            cost = self.costs.modules.get(name) if self.costs is not None else None
            rows.append(
                LayerEnergy(
                    name=name,
                    type=self.layer_types[name],
                    calls=self.layer_calls[name],
                    forward_time_s=time_ns / 1e9,
                    time_share=share,
                    energy_j=energy_j * share,
                    flops=cost.forward_flops * 3 if cost is not None else None,
                    bytes_moved=cost.bytes_moved if cost is not None else None,
                )
            )
        rows.sort(key=lambda r: r.energy_j, reverse=True)
        rest_j = energy_j - sum(r.energy_j for r in rows)
        return LayerBreakdown(tuple(rows), rest_j, LAYER_METHOD)

    def _add_layers(self, result: RunResult) -> RunResult:
        return dataclasses.replace(result, layers=self.layers(result))

    def _add_forecast(self, result: RunResult) -> RunResult:
        if self.forecast is None:
            return result
        forecast = dataclasses.asdict(self.forecast)
        if self.budget_verdict is not None:
            forecast["budget"] = {
                "exceeded": self.budget_verdict.exceeded,
                "message": self.budget_verdict.message,
                "stopped_training": self.should_stop,
            }
        return dataclasses.replace(result, forecast=forecast)

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
    flops: bool = True,
    epochs: int | None = None,
    warmup_epochs: int = 1,
    budget: Budget | None = None,
) -> Watcher:
    """Attribute ``run``'s energy to training phases (and, with ``layers``, to modules).

    With ``epochs`` (the planned number), each finished epoch updates ``watcher.forecast`` of
    the whole run's energy and duration; with a ``budget`` the forecast is checked against it
    and, when ``budget.action == "stop"``, the DataLoader yields nothing more once it is
    exceeded, so the training loop ends cleanly.
    """
    if not run.running:
        raise RuntimeError("watch() needs a running measurement: call it inside `with track()`")
    return Watcher(
        run,
        model,
        optimizer,
        dataloader,
        layers=layers,
        depth=depth,
        sync=sync,
        flops=flops,
        epochs=epochs,
        warmup_epochs=warmup_epochs,
        budget=budget,
    )
