"""Hugging Face ``transformers``: a Trainer callback, and ``generate`` split into prefill / decode.

``pip install 'jouleflow[hf]'`` (transformers, and accelerate which its Trainer needs)::

    from jouleflow.integrations.hf import JouleflowCallback

    callback = JouleflowCallback(budget_kwh=2.0, stop_on_budget=True)
    trainer = Trainer(model, args, train_dataset=data)
    callback.attach(trainer)  # or Trainer(..., callbacks=[callback]): see the logging note
    trainer.train()
    callback.result.phase("forward").energy_j

What the callback records (through ``jouleflow.torch.watch``; attribution stays in the run):

- ``forward`` / ``backward`` / ``optimizer`` / ``other``: hooks on the Trainer's model and on the
  torch optimizer inside accelerate's wrapper. A model that computes its loss (``labels=``) counts
  it in ``forward``. Evaluation forwards during training also land in ``forward`` (the Trainer has
  no "evaluation begins" event), so with ``eval_strategy`` on, ``forward`` counts exceed steps.
- ``data``: each ``next()`` on the DataLoader the Trainer built (it reaches callbacks as
  ``train_dataloader``). accelerate prefetches one batch ahead, so a wait is timed when the batch
  is really fetched. Where the loader cannot be watched, that time falls in ``other``.
- ``epoch``: one phase per epoch (``on_epoch_begin`` to ``on_epoch_end``). Each finished epoch
  feeds a ``Forecaster`` (after ``warmup_epochs``); with a budget, an exceeded forecast warns once
  and, with ``stop_on_budget=True``, sets ``control.should_training_stop`` so the Trainer ends
  cleanly after that epoch. With ``max_steps``, the last epoch may be partial and the forecast,
  which assumes whole epochs, then runs high.
- the run counts optimizer ``steps`` (``result.per_unit()["j_per_step"]``).

Figures reach the Trainer's own logging: at each ``on_log`` the callback adds ``energy/total_j``,
``energy/<phase>_j`` (each phase's self energy so far), and once a forecast exists
``energy/forecast_total_j`` / ``_low_j`` / ``_high_j`` (``_gco2`` with an intensity) and
``energy/budget_used``, to ``logs`` and to the ``state.log_history`` entry. Callbacks run in order
and the Trainer puts reporting integrations (TensorBoard, W&B...) before the ones you pass; use
``callback.attach(trainer)`` instead of ``callbacks=[...]`` so that they receive the figures too.

Only the local main process measures (the sensors see the whole machine). If ``train()`` raises,
the Trainer calls no end hook: call ``callback.close(status="failed")`` to stop the run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

try:
    from transformers import (
        DefaultFlowCallback,
        StoppingCriteria,
        StoppingCriteriaList,
        TrainerCallback,
        TrainerControl,
        TrainerState,
        TrainingArguments,
    )
except ImportError as err:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "jouleflow.integrations.hf needs transformers: pip install 'jouleflow[hf]'"
    ) from err

from jouleflow.integrations._training import TrainingMeter
from jouleflow.records import RunResult
from jouleflow.tracker import Phase, Run

__all__ = ["GENERATE_METHOD", "JouleflowCallback", "measure_generate"]


class JouleflowCallback(TrainerCallback):
    """Measure a ``transformers.Trainer`` run: phases, epochs, forecast and energy budget.

    ``run``: a run to record into (started here if it is not running; then also stopped here).
    Otherwise the callback starts its own ``track(name, **track_kwargs)`` at ``on_train_begin``
    and stops it at ``on_train_end``; ``track_kwargs`` are ``track()``'s options (``db``,
    ``powercap_root``, ``gpus``...). ``budget_gco2`` needs ``intensity_g_per_kwh``.

    ``layers``, ``depth``, ``sync``, ``flops`` are ``jouleflow.torch.watch``'s. ``ModuleList``s
    do not count as a level, so ``depth=2`` lists GPT-2's blocks (``transformer.h.0``...).
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
        self.data_timed = False

    # -- what users read ------------------------------------------------------------------------
    @property
    def run(self) -> Run | None:
        return self.meter.run

    @property
    def result(self) -> RunResult:
        """The finished run (after ``on_train_end``, or after you stop a run you passed in)."""
        return self.meter.result

    @property
    def stopped_by_budget(self) -> bool:
        return self.meter.stopped_by_budget

    def attach(self, trainer: Any) -> JouleflowCallback:
        """Add this callback right after the Trainer's flow callback, ahead of its reporting
        integrations, so that they log the energy figures too. Returns the callback."""
        callbacks: list[Any] = trainer.callback_handler.callbacks
        if self in callbacks:
            callbacks.remove(self)
        flow = [i for i, cb in enumerate(callbacks) if isinstance(cb, DefaultFlowCallback)]
        callbacks.insert(flow[0] + 1 if flow else 0, self)
        return self

    def close(self, status: str = "completed") -> RunResult | None:
        """Remove every hook and stop the run this callback started (after a failed ``train``)."""
        return self.meter.end(status=status)

    # -- the Trainer's events -------------------------------------------------------------------
    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        if not state.is_local_process_zero:
            return
        model = kwargs.get("model")
        if model is None:
            raise ValueError(
                "JouleflowCallback needs the Trainer's model (on_train_begin got none)"
            )
        self.meter.begin(model, kwargs.get("optimizer"))
        self.data_timed = self.meter.watch_data(kwargs.get("train_dataloader"))
        self.meter.plan(state.num_train_epochs or None)

    def on_epoch_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        self.meter.epoch_begin()

    def on_epoch_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        if self.meter.epoch_end():
            control.should_training_stop = True

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, float] | None = None,
        **kwargs: Any,
    ) -> None:
        figures = self.meter.figures()
        if not figures:
            return
        if logs is not None:
            logs.update(figures)
        history = state.log_history
        if history and history[-1].get("step") == state.global_step:
            history[-1].update(figures)

    def on_train_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        self.meter.end()


# -- generation -----------------------------------------------------------------------------------

GENERATE_METHOD = (
    "prefill: from the call of generate() until the first new token exists (the prompt's forward "
    "pass and the first token's selection: time to first token); decode: every later token. The "
    "edge is a StoppingCriteria that never stops anything: generate() calls it once per step, "
    "after the step's token is appended, so its first call marks the first token. On CUDA the "
    "edge synchronises the device (sync=True) so prefill kernels still queued are not counted in "
    "decode. tokens: positions generated × returned sequences (a sequence that finished early "
    "still occupies, and costs, its padded positions); samples: prompts. With assisted "
    "(speculative) decoding the first step may accept several tokens, all counted in prefill"
)


class _FirstToken(StoppingCriteria):
    """Stops nothing; its first call switches ``prefill`` to ``decode``; each call notes lengths."""

    def __init__(self, run: Run, prefill: Phase, sync: bool) -> None:
        self.run = run
        self.phase = prefill
        self.sync = sync
        self.first_len: int | None = None
        self.last_len = 0

    def __call__(
        self, input_ids: torch.LongTensor, scores: Any = None, **kwargs: Any
    ) -> torch.BoolTensor:
        length = int(input_ids.shape[1])
        if self.first_len is None:
            self.first_len = length
            if self.sync and input_ids.is_cuda:
                torch.cuda.synchronize(input_ids.device)
            self.phase = self.run.switch(self.phase, "decode")
        self.last_len = length
        done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        return done  # type: ignore[return-value]


def measure_generate(model: Any, run: Run, *, sync: bool = True, **generate_kwargs: Any) -> Any:
    """``model.generate(**generate_kwargs)`` with its energy split into ``prefill`` and ``decode``
    phases of ``run``, and its new tokens and prompts counted (``run.count(tokens=, samples=)``),
    so ``result.per_unit()`` gives J per token and kWh per 1,000 inferences. See
    ``GENERATE_METHOD`` for how the split is made. Returns what ``generate`` returns."""
    if not run.running:
        raise RuntimeError(
            "measure_generate() needs a running measurement: call it in `with track()`"
        )
    prefill = run.phase("prefill")
    edge = _FirstToken(run, prefill, sync)
    criteria = StoppingCriteriaList(generate_kwargs.pop("stopping_criteria", None) or [])
    criteria.append(edge)
    prefill.__enter__()
    try:
        output = model.generate(stopping_criteria=criteria, **generate_kwargs)
        sequences = output if isinstance(output, torch.Tensor) else output.sequences
        if sync and sequences.is_cuda:
            torch.cuda.synchronize(sequences.device)
    finally:
        edge.phase.close()
    if edge.first_len is not None:
        per_sequence = edge.last_len - edge.first_len + 1
        returned = int(sequences.shape[0])
        repeats = generate_kwargs.get("num_return_sequences")
        if repeats is None:
            config = getattr(model, "generation_config", None)
            repeats = getattr(config, "num_return_sequences", None) or 1
        run.count(tokens=per_sequence * returned, samples=max(1, returned // int(repeats)))
    return output
