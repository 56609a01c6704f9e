"""What the Hugging Face and Lightning callbacks share: one run, its phases, epochs and forecast.

A ``TrainingMeter`` is driven by a framework's callback hooks. It owns (or borrows) a ``track()``
run, puts a ``jouleflow.torch`` ``Watcher`` on the model (and optimizer), times waits on the
training DataLoader as ``data``, opens one ``epoch`` phase per epoch, feeds each finished epoch to
a ``Forecaster`` and checks the forecast against a ``Budget``. Like every integration it only
records phase edges (STYLE.md #11); the figures come from the run.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

import torch
from torch import nn

from jouleflow.attribution.forecast import Budget, BudgetVerdict, Forecast, Forecaster
from jouleflow.integrations.pytorch import Watcher, watch
from jouleflow.records import RunResult
from jouleflow.tracker import Phase, Run, track

PREFIX = "energy/"
EPOCH_PHASE = "epoch"
# More epochs than this means "unknown length" (Trainer uses sys.maxsize for unsized data).
MAX_FORECAST_EPOCHS = 1_000_000


def _innermost_optimizer(optimizer: Any) -> torch.optim.Optimizer | None:
    """The torch optimizer whose ``step`` really runs (accelerate and others wrap it)."""
    seen = 0
    while optimizer is not None and seen < 8:
        inner = getattr(optimizer, "optimizer", None)
        if not isinstance(inner, torch.optim.Optimizer):
            break
        optimizer, seen = inner, seen + 1
    return optimizer if isinstance(optimizer, torch.optim.Optimizer) else None


class TrainingMeter:
    """One training run measured through a framework's callback hooks (see the module doc)."""

    def __init__(
        self,
        *,
        run: Run | None,
        name: str | None,
        track_kwargs: Mapping[str, Any] | None,
        budget_kwh: float | None,
        budget_gco2: float | None,
        intensity_g_per_kwh: float | None,
        stop_on_budget: bool,
        layers: bool,
        depth: int,
        sync: bool,
        flops: bool,
        warmup_epochs: int,
    ) -> None:
        if warmup_epochs < 0:
            raise ValueError(f"warmup_epochs must be ≥ 0, got {warmup_epochs!r}")
        if intensity_g_per_kwh is not None and not intensity_g_per_kwh >= 0:
            raise ValueError(f"intensity_g_per_kwh must be ≥ 0, got {intensity_g_per_kwh!r}")
        self.budget: Budget | None = None
        if budget_kwh is not None or budget_gco2 is not None:
            # Budget validates the limits (and that a carbon budget has an intensity) right away.
            self.budget = Budget(
                max_kwh=budget_kwh,
                max_gco2=budget_gco2,
                intensity_g_per_kwh=intensity_g_per_kwh,
                action="stop" if stop_on_budget else "warn",
            )
        self.intensity_g_per_kwh = intensity_g_per_kwh
        self.stop_on_budget = stop_on_budget
        self.warmup_epochs = warmup_epochs
        self._given_run = run
        self._name = name
        self._track_kwargs = dict(track_kwargs or {})
        self._layers, self._depth, self._sync, self._flops = layers, depth, sync, flops
        self.run: Run | None = None
        self.owns_run = False
        self.watcher: Watcher | None = None
        self.forecaster: Forecaster | None = None
        self.forecast: Forecast | None = None
        self.verdict: BudgetVerdict | None = None
        self.stopped_by_budget = False
        self.epochs = 0
        self._steps = 0
        self._epoch: Phase | None = None
        self._handles: list[Any] = []
        self._loader: Any = None
        self._loader_class: type | None = None
        self._warned = False

    # -- lifecycle ----------------------------------------------------------------------------
    def begin(self, model: nn.Module, optimizer: Any = None) -> Run:
        """Start (or join) the run and hook ``model`` and ``optimizer``'s step."""
        if self.watcher is not None:
            self.end(status="interrupted")  # a previous training never reached its end hook
        run = self._given_run
        if run is None:
            run, self.owns_run = track(self._name, **self._track_kwargs), True
        else:
            self.owns_run = not run.running
        if self.owns_run:
            run.start()
        self.run = run
        self.forecaster, self.forecast, self.verdict = None, None, None
        self.stopped_by_budget, self._warned, self.epochs, self._steps = False, False, 0, 0
        self.watcher = watch(
            model,
            _innermost_optimizer(optimizer),
            run=run,
            layers=self._layers,
            depth=self._depth,
            sync=self._sync,
            flops=self._flops,
        )
        return run

    def plan(self, total_epochs: int | None) -> None:
        """Know the run's length in epochs: the forecast (and budget) need it."""
        usable = total_epochs is not None and self.warmup_epochs < total_epochs
        if usable and total_epochs is not None and total_epochs <= MAX_FORECAST_EPOCHS:
            self.forecaster = Forecaster(total_epochs, warmup_units=self.warmup_epochs)
        elif self.budget is not None:
            warnings.warn(
                f"jouleflow cannot forecast this run (its length, {total_epochs} epoch(s), is"
                f" unknown or not above warmup_epochs={self.warmup_epochs}): the energy budget"
                " will not be checked",
                stacklevel=3,
            )

    def count_steps_of(self, optimizer: Any) -> None:
        """Count ``optimizer``'s steps and end the ``optimizer`` phase when each step returns.

        For frameworks that step inside a closure (Lightning), where a step pre-hook would open
        ``optimizer`` before the forward pass; they enter ``optimizer`` from their own hook.
        """
        inner = _innermost_optimizer(optimizer)
        if inner is not None:
            self._handles.append(inner.register_step_post_hook(self._step_ended))

    def _step_ended(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        self._steps += 1
        self.enter("other")

    def enter(self, phase: str) -> None:
        if self.watcher is not None:
            self.watcher.enter(phase)

    @property
    def steps(self) -> int:
        return self._steps + (self.watcher.steps if self.watcher is not None else 0)

    def end(self, status: str = "completed") -> RunResult | None:
        """Close every phase and hook; stop the run when this meter started it."""
        run = self.run
        if self.watcher is None or run is None:
            return None
        self._close_epoch()
        self._steps += self.watcher.steps
        self.watcher.close()
        self.watcher = None
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self._unwatch_data()
        if run.running and self.steps:
            run.count(steps=self.steps)
        if self.owns_run and run.running:
            return run.stop(status=status)
        return None

    @property
    def result(self) -> RunResult:
        if self.run is None:
            raise RuntimeError("no training has been measured yet")
        return self.run.result

    # -- epochs, forecast, budget -------------------------------------------------------------
    def epoch_begin(self) -> None:
        if self.run is None or not self.run.running:
            return
        self._close_epoch()
        self._epoch = self.run.phase(EPOCH_PHASE)
        self._epoch.__enter__()

    def epoch_end(self) -> bool:
        """Close the epoch and update the forecast; True when the budget says to stop."""
        phase = self._close_epoch()
        if phase is None or self.forecaster is None:
            return False
        if self.epochs > self.forecaster.total_units:
            return False  # more epochs than planned (resumed, or a length the trainer changed)
        self.forecast = self.forecaster.observe(phase.energy_j, phase.duration_s)
        if self.forecast is None or self.budget is None:
            return False
        self.verdict = self.budget.check(self.forecast)
        if not self.verdict.exceeded:
            return False
        if not self._warned:
            warnings.warn(f"jouleflow energy budget: {self.verdict.message}", stacklevel=3)
            self._warned = True
        self.stopped_by_budget = self.stop_on_budget
        return self.stop_on_budget

    def _close_epoch(self) -> Phase | None:
        phase, self._epoch = self._epoch, None
        if phase is None or self.run is None or not self.run.running:
            return None
        phase.close()
        self.epochs += 1
        return phase

    # -- figures for the framework's loggers --------------------------------------------------
    def figures(self) -> dict[str, float]:
        """Energy so far (total and each phase's self energy) and the latest forecast, in J."""
        run = self.run
        if run is None or not run.running:
            return {}
        partial = run.partial_result()
        ids = partial.total_ids
        figures = {f"{PREFIX}total_j": partial.total_j}
        for phase in partial.phases:
            if phase.name != EPOCH_PHASE:
                figures[f"{PREFIX}{phase.name}_j"] = phase.self_total_j(ids)
        forecast = self.forecast
        if forecast is not None:
            low, high = forecast.energy_interval_j
            figures[f"{PREFIX}forecast_total_j"] = forecast.predicted_total_energy_j
            figures[f"{PREFIX}forecast_low_j"] = low
            figures[f"{PREFIX}forecast_high_j"] = high
            if self.intensity_g_per_kwh is not None:
                figures[f"{PREFIX}forecast_gco2"] = forecast.carbon(self.intensity_g_per_kwh)[0]
        if self.verdict is not None:
            figures[f"{PREFIX}budget_used"] = self.verdict.predicted / self.verdict.limit
        return figures

    # -- waits on the DataLoader ----------------------------------------------------------------
    def watch_data(self, dataloader: Any) -> bool:
        """Time each ``next()`` on this DataLoader as ``data``; False when it cannot be watched.

        The instance gets a subclass whose ``__iter__`` records the edges (restored at the end).
        accelerate's loaders wrap a plain DataLoader in ``base_dataloader`` and forbid changing
        their class; the inner one is watched, so its (prefetched) fetches are what is timed.
        """
        loader = getattr(dataloader, "base_dataloader", dataloader)
        if loader is self._loader:
            return True
        original = type(loader)
        if not issubclass(original, torch.utils.data.DataLoader) or self.watcher is None:
            return False
        self._unwatch_data()
        meter = self

        def __iter__(instance: Any) -> Iterator[Any]:
            return meter._time_data(original.__iter__(instance))

        try:
            loader.__class__ = type(
                f"DataTimed{original.__name__}", (original,), {"__iter__": __iter__}
            )
        except (AttributeError, TypeError):
            return False
        self._loader, self._loader_class = loader, original
        return True

    def _time_data(self, iterator: Iterator[Any]) -> Iterator[Any]:
        while True:
            timing = self.watcher is not None and self.run is not None and self.run.running
            if timing:
                self.enter("data")
            try:
                batch = next(iterator)
            except StopIteration:
                if timing:
                    self.enter("other")
                return
            if timing:
                self.enter("other")
            yield batch

    def _unwatch_data(self) -> None:
        if self._loader is not None and self._loader_class is not None:
            self._loader.__class__ = self._loader_class
        self._loader, self._loader_class = None, None


def epochs_from_steps(max_steps: int, batches_per_epoch: float, accumulate: int = 1) -> int | None:
    """How many epochs ``max_steps`` optimizer steps take; None if an epoch's length is unknown."""
    if max_steps <= 0 or not math.isfinite(batches_per_epoch) or batches_per_epoch <= 0:
        return None
    steps_per_epoch = max(1, math.ceil(batches_per_epoch / max(accumulate, 1)))
    return math.ceil(max_steps / steps_per_epoch)
