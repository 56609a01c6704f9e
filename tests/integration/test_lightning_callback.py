"""The Lightning callback on a tiny randomly-initialised model and synthetic data."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
L = pytest.importorskip("lightning.pytorch")

import jouleflow  # noqa: E402
from jouleflow.integrations.lightning import JouleflowCallback  # noqa: E402
from jouleflow.testing import ConstantPower, PowercapSimulator, single_socket  # noqa: E402

PACKAGE_W, CORE_W = 50.0, 30.0
BATCHES_PER_EPOCH = 4

# Lightning's pytree helper calls a torch API that this torch deprecates (Lightning's code).
pytestmark = pytest.mark.filterwarnings(
    "ignore:`isinstance\\(treespec, LeafSpec\\)` is deprecated:FutureWarning"
)


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


class Tiny(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 4)
        )

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return torch.nn.functional.cross_entropy(self(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


class Validated(Tiny):
    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", torch.nn.functional.cross_entropy(self(x), y))


class Recorder(L.loggers.Logger):
    """A logger that keeps what the Trainer sends it."""

    def __init__(self) -> None:
        super().__init__()
        self.metrics: list[dict[str, float]] = []

    @property
    def name(self) -> str:
        return "recorder"

    @property
    def version(self) -> int:
        return 0

    def log_metrics(self, metrics, step=None) -> None:
        self.metrics.append(dict(metrics))

    def log_hyperparams(self, params, *args, **kwargs) -> None:
        pass


def loader():
    generator = torch.Generator().manual_seed(0)
    data = torch.utils.data.TensorDataset(
        torch.randn(8 * BATCHES_PER_EPOCH, 16, generator=generator),
        torch.randint(0, 4, (8 * BATCHES_PER_EPOCH,), generator=generator),
    )
    return torch.utils.data.DataLoader(data, batch_size=8)


def fit(tmp_path, callback, epochs: int, validate: bool = False, max_steps: int = -1):
    torch.manual_seed(0)
    logger = Recorder()
    trainer = L.Trainer(
        max_epochs=epochs,
        max_steps=max_steps,
        accelerator="cpu",
        devices=1,
        logger=logger,
        callbacks=[callback],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        log_every_n_steps=1,
        num_sanity_val_steps=0,
        default_root_dir=str(tmp_path),
    )
    trainer.fit(Validated() if validate else Tiny(), loader(), loader() if validate else None)
    return trainer, logger


def test_phases_counts_and_logged_energy(tmp_path, simulator, sensors):
    callback = JouleflowCallback(track_kwargs=sensors)
    trainer, logger = fit(tmp_path, callback, epochs=2)

    result = callback.result
    steps = trainer.global_step
    assert steps == 2 * BATCHES_PER_EPOCH
    for name in ("data", "forward", "backward", "optimizer"):
        assert result.phase(name).count == steps, name
    assert result.phase("epoch").count == 2
    assert result.counts == {"steps": steps}
    start, end = result.window_ns
    truth = simulator.energy_j("intel-rapl:0", start, end)
    assert result.component("rapl:package-0").energy_j == pytest.approx(truth, abs=0.2)

    # Logged once per epoch through pl_module.log_dict: in every logger and in callback_metrics.
    logged = [m for m in logger.metrics if "energy/total_j" in m]
    assert len(logged) == 2
    assert logged[0]["energy/total_j"] < logged[1]["energy/total_j"]
    assert logged[1]["energy/forward_j"] > 0
    assert "energy/forecast_total_j" not in logged[0]  # epoch 1 is warm-up
    assert logged[1]["energy/forecast_total_j"] > 0
    assert trainer.callback_metrics["energy/total_j"] > 0


def test_budget_stops_training_after_the_first_forecast(tmp_path, sensors):
    callback = JouleflowCallback(budget_kwh=1e-9, stop_on_budget=True, track_kwargs=sensors)
    with pytest.warns(UserWarning, match="exceeds the 1e-09 kWh budget.*training will stop"):
        trainer, logger = fit(tmp_path, callback, epochs=5)
    assert trainer.current_epoch == 2
    assert trainer.global_step == 2 * BATCHES_PER_EPOCH
    assert callback.stopped_by_budget
    assert callback.result.phase("epoch").count == 2
    assert logger.metrics[-1]["energy/budget_used"] > 1


def test_max_steps_sets_the_forecast_length(tmp_path, sensors):
    callback = JouleflowCallback(track_kwargs=sensors)
    trainer, _ = fit(tmp_path, callback, epochs=10, max_steps=BATCHES_PER_EPOCH + 2)
    assert trainer.global_step == BATCHES_PER_EPOCH + 2
    assert callback.meter.forecaster is not None
    assert callback.meter.forecaster.total_units == 2  # the second, partial epoch ends the fit
    assert callback.result.phase("optimizer").count == BATCHES_PER_EPOCH + 2


def test_validation_is_a_phase_and_a_run_passed_in_keeps_running(tmp_path, sensors):
    with jouleflow.track(**sensors) as run:
        fit(tmp_path, JouleflowCallback(run=run, layers=True, flops=False), 1, validate=True)
        assert run.running
    result = run.result
    assert result.phase("validation").count == 1
    # Validation forwards are forwards too: one per training and one per validation batch.
    assert result.phase("forward").count == 2 * BATCHES_PER_EPOCH
    assert result.phase("backward").count == BATCHES_PER_EPOCH
    assert {layer.name for layer in result.layers.layers} == {"net.0", "net.1", "net.2"}


def test_a_failed_fit_stops_the_run_as_failed(tmp_path, sensors):
    class Broken(Tiny):
        def training_step(self, batch, batch_idx):
            raise ValueError("boom")

    callback = JouleflowCallback(track_kwargs=sensors)
    trainer = L.Trainer(
        max_epochs=1,
        accelerator="cpu",
        logger=False,
        callbacks=[callback],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    with pytest.raises(ValueError, match="boom"):
        trainer.fit(Broken(), loader())
    assert callback.result.status == "failed"
