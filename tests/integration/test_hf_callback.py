"""The Hugging Face Trainer callback and generate() split, on a tiny GPT-2 built from a config."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("accelerate")  # the Trainer needs it

import jouleflow  # noqa: E402
from jouleflow.integrations.hf import JouleflowCallback, measure_generate  # noqa: E402
from jouleflow.testing import ConstantPower, PowercapSimulator, single_socket  # noqa: E402

PACKAGE_W, CORE_W = 50.0, 30.0
BATCHES_PER_EPOCH = 4


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Everything is built from configs; nothing may reach the Hub."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture
def simulator(tmp_path):
    """A one-socket powercap tree whose package draws a constant 50 W."""
    tree = single_socket(tmp_path / "sys", dram=False)
    traces = {"intel-rapl:0": ConstantPower(PACKAGE_W), "intel-rapl:0:0": ConstantPower(CORE_W)}
    with PowercapSimulator(tree, traces, process=True) as sim:
        yield sim


@pytest.fixture
def sensors(simulator):
    """track() options that read the simulated tree (and no GPU)."""
    return {"powercap_root": str(simulator.tree.root), "gpus": False}


class Tokens(torch.utils.data.Dataset):
    """Random token sequences that are their own labels (causal LM)."""

    def __init__(self, n: int = 4 * BATCHES_PER_EPOCH, length: int = 12) -> None:
        generator = torch.Generator().manual_seed(0)
        self.ids = torch.randint(3, 100, (n, length), generator=generator)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self.ids[i], "labels": self.ids[i]}


def tiny_gpt2():
    torch.manual_seed(0)
    config = transformers.GPT2Config(
        n_layer=2,
        n_embd=32,
        n_head=2,
        vocab_size=100,
        n_positions=64,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=0,
    )
    return transformers.GPT2LMHeadModel(config)


def trainer_for(tmp_path, epochs: int, callbacks=()):
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path / "out"),
        num_train_epochs=epochs,
        per_device_train_batch_size=4,
        report_to=[],
        use_cpu=True,
        logging_steps=1,
        save_strategy="no",
        disable_tqdm=True,
    )
    return transformers.Trainer(
        model=tiny_gpt2(), args=args, train_dataset=Tokens(), callbacks=list(callbacks)
    )


class Reporter(transformers.TrainerCallback):
    """Stands for a reporting integration: it sees what reaches on_log after jouleflow."""

    def __init__(self) -> None:
        self.logs: list[dict[str, float]] = []

    def on_log(self, args, state, control, logs=None, **kwargs):
        self.logs.append(dict(logs or {}))


def test_phases_counts_and_logged_energy(tmp_path, simulator, sensors):
    reporter = Reporter()
    trainer = trainer_for(tmp_path, epochs=2, callbacks=[reporter])
    callback = JouleflowCallback(track_kwargs=sensors).attach(trainer)
    trainer.train()

    result = callback.result
    steps = trainer.state.global_step
    assert steps == 2 * BATCHES_PER_EPOCH
    for name in ("forward", "backward", "optimizer"):
        assert result.phase(name).count == steps, name
    assert callback.data_timed
    assert result.phase("data").count >= steps  # one wait per batch, plus each epoch's last look
    assert result.phase("epoch").count == 2
    assert result.counts == {"steps": steps}

    # The package's energy is the simulator's, to a counter tick at each edge.
    start, end = result.window_ns
    truth = simulator.energy_j("intel-rapl:0", start, end)
    assert result.component("rapl:package-0").energy_j == pytest.approx(truth, abs=0.2)
    ids = result.total_ids
    attributed = sum(p.self_total_j(ids) for p in result.phases)
    assert attributed + sum(result.unattributed_j[i] for i in ids) == pytest.approx(result.total_j)

    # The figures are in the Trainer's own log history and reached the callback after jouleflow.
    step_logs = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert len(step_logs) == steps
    assert all(entry["energy/total_j"] > 0 for entry in step_logs)
    totals = [entry["energy/total_j"] for entry in step_logs]
    assert totals == sorted(totals)
    assert step_logs[-1]["energy/forward_j"] > 0
    last = trainer.state.log_history[-1]  # the end-of-training summary, after epoch 2's forecast
    assert last["energy/forecast_total_j"] > 0
    assert "energy/total_j" in reporter.logs[0]


def test_budget_stops_training_after_the_first_forecast(tmp_path, sensors):
    trainer = trainer_for(tmp_path, epochs=5)
    callback = JouleflowCallback(budget_kwh=1e-9, stop_on_budget=True, track_kwargs=sensors)
    trainer.add_callback(callback)
    with pytest.warns(UserWarning, match="exceeds the 1e-09 kWh budget.*training will stop"):
        trainer.train()

    # Epoch 1 is warm-up; epoch 2 gives the first forecast, which is far over the budget.
    assert trainer.state.epoch == pytest.approx(2.0)
    assert trainer.state.global_step == 2 * BATCHES_PER_EPOCH
    assert callback.stopped_by_budget
    assert callback.result.phase("epoch").count == 2
    assert callback.result.status == "completed"
    assert trainer.state.log_history[-1]["energy/budget_used"] > 1


def test_budget_in_warn_mode_warns_once_and_trains_on(tmp_path, sensors):
    trainer = trainer_for(tmp_path, epochs=3)
    callback = JouleflowCallback(budget_kwh=1e-9, track_kwargs=sensors)
    trainer.add_callback(callback)
    with pytest.warns(UserWarning, match="training continues") as caught:
        trainer.train()
    assert len([w for w in caught if "jouleflow energy budget" in str(w.message)]) == 1
    assert trainer.state.global_step == 3 * BATCHES_PER_EPOCH
    assert not callback.stopped_by_budget


def test_a_run_passed_in_keeps_running(tmp_path, sensors):
    trainer = trainer_for(tmp_path, epochs=1)
    with jouleflow.track(**sensors) as run:
        with run.phase("setup"):
            pass
        trainer.add_callback(JouleflowCallback(run=run, layers=True, depth=2, flops=True))
        trainer.train()
        assert run.running  # the callback did not stop a run it did not start
    assert run.result.phase("forward").count == BATCHES_PER_EPOCH
    assert run.result.phase("setup").count == 1
    layers = {layer.name for layer in run.result.layers.layers}
    assert {"transformer.h.0", "transformer.h.1", "lm_head"} <= layers


def test_close_after_a_failed_train_stops_the_run_as_failed(tmp_path, sensors):
    class Broken(Tokens):
        def __getitem__(self, i):
            raise OSError("disk gone")

    trainer = trainer_for(tmp_path, epochs=1)
    trainer.train_dataset = Broken()
    callback = JouleflowCallback(track_kwargs=sensors)
    trainer.add_callback(callback)
    with pytest.raises(OSError, match="disk gone"):
        trainer.train()
    assert callback.run is not None and callback.run.running  # the Trainer called no end hook
    assert callback.close(status="failed").status == "failed"
    assert callback.result.phase("data").count == 1


def test_generate_splits_prefill_and_decode(sensors):
    model = tiny_gpt2().eval()
    prompt = torch.randint(3, 100, (3, 8), generator=torch.Generator().manual_seed(1))
    with jouleflow.track(**sensors) as run:
        output = measure_generate(
            model,
            run,
            input_ids=prompt,
            attention_mask=torch.ones_like(prompt),
            max_new_tokens=6,
            min_new_tokens=6,
            do_sample=False,
        )
        beams = measure_generate(
            model, run, input_ids=prompt, max_new_tokens=4, num_beams=2, num_return_sequences=2
        )
    assert output.shape == (3, 8 + 6)
    assert beams.shape[0] == 6
    result = run.result
    assert result.phase("prefill").count == 2
    assert result.phase("decode").count == 2
    assert result.phase("decode").duration_s > 0
    new_beam_tokens = beams.shape[1] - 8
    assert result.counts == {"tokens": 3 * 6 + 6 * new_beam_tokens, "samples": 6}
    assert result.per_unit()["j_per_token"] > 0


def test_generate_needs_a_running_measurement():
    run = jouleflow.track(db=False)
    with pytest.raises(RuntimeError, match="running measurement"):
        measure_generate(tiny_gpt2(), run, input_ids=torch.ones(1, 2, dtype=torch.long))
