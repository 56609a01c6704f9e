"""PyTorch Lightning: a ``Callback`` that measures ``trainer.fit`` by phase, epoch and forecast.

``pip install 'jouleflow[lightning]'`` (the ``lightning`` package; ``pytorch_lightning`` is used
when only it is installed: the callback subclasses whichever package's ``Callback`` it found, so
use it with that package's ``Trainer``)::

    from jouleflow.integrations.lightning import JouleflowCallback

    callback = JouleflowCallback(budget_kwh=2.0, stop_on_budget=True)
    Trainer(max_epochs=10, callbacks=[callback]).fit(model, data)
    callback.result.phase("backward").energy_j

Lightning steps the optimizer with a closure that runs ``training_step`` and backward *inside*
``optimizer.step()``, so phase edges come from Lightning's own hooks rather than an optimizer
step pre-hook (which would fire before the forward pass):

- ``data``: from ``on_train_batch_end`` (or the epoch's start) to the next
  ``on_train_batch_start``: fetching the next batch and moving it to the device, plus Lightning's
  per-batch bookkeeping (metric logging, the validation check). Lightning creates the first
  epoch's iterator before any callback hook runs, so the DataLoader itself cannot be watched.
- ``forward``: from ``on_train_batch_start`` until backward begins, or until the module's own
  ``forward`` returns when ``training_step`` calls ``self(...)`` (the loss is then ``other``).
  Validation (and the sanity check) calls ``forward`` too: those passes land in ``forward``, so
  with validation on, ``forward`` counts exceed steps (and with ``layers=True, flops=True`` the
  one FLOP-counting pass splits the first forward in two).
- ``backward``: ``on_before_backward`` until ``on_before_optimizer_step``;
- ``optimizer``: ``on_before_optimizer_step`` (gradient clipping included) until the torch
  optimizer's ``step`` returns (a step post-hook, which also counts ``steps``);
- ``other``: the rest (zero_grad, the end of an epoch, checkpoints);
- ``validation``: each validation loop (the sanity check too), a phase of its own around the
  others, so its inclusive energy is exact while its forwards still count in ``forward``;
- ``epoch``: ``on_train_epoch_start`` to ``on_train_epoch_end``, validation at the epoch's end
  included. Each finished epoch feeds the forecast; an exceeded budget warns once and, with
  ``stop_on_budget=True``, sets ``trainer.should_stop`` (Lightning still honours ``min_epochs``).

At each epoch's end the figures (``energy/total_j``, ``energy/<phase>_j``, the forecast and
``energy/budget_used``, as in ``jouleflow.integrations.hf``) are logged with
``pl_module.log_dict``, so they reach every logger and ``trainer.callback_metrics``. Only local
rank 0 measures (the sensors see the whole machine).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from torch import Tensor

if TYPE_CHECKING:
    import lightning.pytorch as pl
else:
    try:
        import lightning.pytorch as pl
    except ImportError:
        try:
            import pytorch_lightning as pl
        except ImportError as err:  # pragma: no cover - exercised only without the extra
            raise ImportError(
                "jouleflow.integrations.lightning needs Lightning:"
                " pip install 'jouleflow[lightning]'"
            ) from err

from jouleflow.integrations._training import TrainingMeter, epochs_from_steps
from jouleflow.records import RunResult
from jouleflow.tracker import Phase, Run

__all__ = ["JouleflowCallback"]


class JouleflowCallback(pl.Callback):
    """Measure a Lightning ``fit``: phases, epochs, forecast and energy budget.

    ``run``: a run to record into (started here if it is not running; then also stopped here).
    Otherwise the callback starts its own ``track(name, **track_kwargs)`` at ``on_fit_start`` and
    stops it at ``on_fit_end`` (or, marked failed / interrupted, at ``on_exception``).
    """

    def __init__(
        self,
        budget_kwh: float | None = None,
        budget_gco2: float | None = None,
        intensity_g_per_kwh: float | None = None,
        stop_on_budget: bool = False,
        layers: bool = False,
        warmup_epochs: int = 1,
        *,
        run: Run | None = None,
        name: str | None = None,
        track_kwargs: Mapping[str, Any] | None = None,
        depth: int = 2,
        sync: bool = False,
        flops: bool = True,
    ) -> None:
        super().__init__()
        self.meter = TrainingMeter(
            run=run,
            name=name,
            track_kwargs=track_kwargs,
            budget_kwh=budget_kwh,
            budget_gco2=budget_gco2,
            intensity_g_per_kwh=intensity_g_per_kwh,
            stop_on_budget=stop_on_budget,
            layers=layers,
            depth=depth,
            sync=sync,
            flops=flops,
            warmup_epochs=warmup_epochs,
        )
        self._validation: Phase | None = None

    @property
    def run(self) -> Run | None:
        return self.meter.run

    @property
    def result(self) -> RunResult:
        """The finished run (after ``on_fit_end``, or after you stop a run you passed in)."""
        return self.meter.result

    @property
    def stopped_by_budget(self) -> bool:
        return self.meter.stopped_by_budget

    # -- fit ------------------------------------------------------------------------------------
    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.local_rank != 0:
            return
        self.meter.begin(pl_module)
        for optimizer in trainer.optimizers:
            self.meter.count_steps_of(optimizer)

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.meter.plan(_total_epochs(trainer))

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.on_validation_end(trainer, pl_module)
        self.meter.end()

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        self.on_validation_end(trainer, pl_module)
        self.meter.end(
            status="interrupted" if isinstance(exception, KeyboardInterrupt) else "failed"
        )

    # -- epochs ---------------------------------------------------------------------------------
    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.meter.epoch_begin()
        self.meter.enter("data")

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.meter.enter("other")
        stop = self.meter.epoch_end()
        figures = self.meter.figures()
        if figures:
            pl_module.log_dict(figures, on_step=False, on_epoch=True)
        if stop:
            trainer.should_stop = True

    # -- one batch ------------------------------------------------------------------------------
    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        self.meter.enter("forward")

    def on_before_backward(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, loss: Tensor
    ) -> None:
        self.meter.enter("backward")

    def on_before_optimizer_step(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, optimizer: Any
    ) -> None:
        self.meter.enter("optimizer")

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        last = batch_idx + 1 >= trainer.num_training_batches  # nothing more to wait for
        self.meter.enter("other" if last else "data")

    # -- validation -----------------------------------------------------------------------------
    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        run = self.meter.run
        if self.meter.watcher is None or run is None or not run.running:
            return
        self.meter.enter("other")
        self._validation = run.phase("validation")
        self._validation.__enter__()

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        phase, self._validation = self._validation, None
        if phase is not None and self.meter.run is not None and self.meter.run.running:
            phase.close()


def _total_epochs(trainer: pl.Trainer) -> int | None:
    """The fit's length in epochs: ``max_epochs``, or fewer when ``max_steps`` ends it first."""
    max_epochs = trainer.max_epochs
    candidates = [max_epochs] if max_epochs is not None and max_epochs > 0 else []
    by_steps = epochs_from_steps(
        trainer.max_steps, float(trainer.num_training_batches), trainer.accumulate_grad_batches
    )
    if by_steps is not None:
        candidates.append(by_steps)
    return min(candidates) if candidates else None
