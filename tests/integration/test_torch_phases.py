"""Phase attribution of a real CPU training loop against a sensor whose power follows the phase."""

import pytest

torch = pytest.importorskip("torch")

import jouleflow  # noqa: E402
import jouleflow.torch  # noqa: E402
from jouleflow.testing import ConstantPower, PowercapSimulator, single_socket  # noqa: E402
from jouleflow.testing.phase_power import PhasePowerSimulator  # noqa: E402

EPOCHS = 6
WATTS = {"data": 20.0, "forward": 60.0, "backward": 90.0, "optimizer": 40.0, "other": 15.0}


class SimulatedLoader(torch.utils.data.DataLoader):
    """Tells the simulator when a batch has arrived; jouleflow watches this loader's class."""

    sim: PhasePowerSimulator

    def __iter__(self):
        inner = super().__iter__()
        while True:
            try:
                batch = next(inner)
            except StopIteration:
                self.sim.set_phase("other")
                return
            self.sim.set_phase("other")
            yield batch


def waiting_for_data(loader, sim):
    """Tells the simulator the loop waits for data, before jouleflow's own edge sees it."""
    iterator = iter(loader)
    while True:
        sim.set_phase("data")
        try:
            batch = next(iterator)
        except StopIteration:
            return
        yield batch


def instrument(model, optimizer, sim):
    """The simulator's hooks, registered before jouleflow's so they fire first at each edge."""

    def forward_ends(module, args, output):
        sim.set_phase("other")
        if output.requires_grad:
            output.register_hook(lambda grad: sim.set_phase("backward"))

    model.register_forward_pre_hook(lambda module, args: sim.set_phase("forward"))
    model.register_forward_hook(forward_ends)
    optimizer.register_step_pre_hook(lambda *a: sim.set_phase("optimizer"))
    optimizer.register_step_post_hook(lambda *a: sim.set_phase("other"))


def test_phase_energies_match_a_phase_following_sensor(tmp_path):
    tree = single_socket(tmp_path, dram=False)
    torch.manual_seed(0)
    data = torch.utils.data.TensorDataset(torch.randn(4096, 256), torch.randint(0, 10, (4096,)))
    model = torch.nn.Sequential(
        torch.nn.Linear(256, 1024), torch.nn.ReLU(), torch.nn.Linear(1024, 10)
    )
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    with PhasePowerSimulator(tree, WATTS, idle_w=10.0, tick_s=None) as sim:
        loader = SimulatedLoader(data, batch_size=64)
        loader.sim = sim
        instrument(model, optimizer, sim)
        with jouleflow.track(powercap_root=str(tree.root), gpus=False) as run:
            watcher = jouleflow.torch.watch(
                model, optimizer, loader, run=run, layers=True, flops=False
            )
            for _ in range(EPOCHS):
                for x, y in waiting_for_data(loader, sim):
                    loss = torch.nn.functional.cross_entropy(model(x), y)
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
            watcher.close()
            sim.set_phase(None)
    result = run.result
    package = "rapl:package-0"
    assert result.phase("forward").count == EPOCHS * 64  # thousands of phase edges
    for name in WATTS:
        phase = result.phase(name)
        truth_j = sim.energy_by_phase_j[name]
        assert phase.self_energy_j[package] == pytest.approx(truth_j, rel=0.02), name
    assert result.phase("optimizer").count == watcher.steps == EPOCHS * 64
    assert result.phase("epoch").count == watcher.epochs == EPOCHS
    # conservation: phases' self energy + unattributed = total, exactly
    parts = sum(p.self_energy_j[package] for p in result.phases)
    assert parts + result.unattributed_j[package] == pytest.approx(
        result.component(package).energy_j, rel=1e-12
    )
    breakdown = result.layers
    assert breakdown is not None and "measured time" in breakdown.method
    assert {layer.name for layer in breakdown.layers} == {"0", "1", "2"}
    assert breakdown.layers[0].type == "Linear" and breakdown.unattributed_j >= 0
    ids = result.total_ids
    forward_backward = result.phase("forward").self_total_j(ids) + result.phase(
        "backward"
    ).self_total_j(ids)
    layer_sum = sum(x.energy_j for x in breakdown.layers)
    assert layer_sum + breakdown.unattributed_j == pytest.approx(forward_backward)


def test_hooks_the_user_puts_on_the_models_output_still_work(tmp_path):
    """watch() hooks the output's gradient itself, without Tensor.register_hook's handle."""
    tree = single_socket(tmp_path, dram=False)
    model = torch.nn.Linear(8, 2)
    x = torch.randn(4, 8)
    seen = []
    with (
        PowercapSimulator(tree, {"intel-rapl:0": ConstantPower(50.0)}),
        jouleflow.track(powercap_root=str(tree.root), gpus=False) as run,
    ):
        watcher = jouleflow.torch.watch(model, run=run)
        for step in range(3):
            output = model(x)
            handle = output.register_hook(lambda grad: seen.append(grad.shape))
            if step == 2:
                handle.remove()  # removes the user's hook only
            doubled = output.register_hook(lambda grad: grad * 2)
            output.sum().backward()
            assert torch.equal(model.bias.grad, torch.full((2,), 8.0))  # 4 rows, doubled
            doubled.remove()
            model.zero_grad()
        watcher.close()
    assert seen == [torch.Size([4, 2])] * 2
    assert run.result.phase("backward").count == 3


def test_layers_carry_flops_and_the_counting_pass_is_its_own_phase(tmp_path):
    tree = single_socket(tmp_path, dram=False)
    model = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, 4))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = torch.randn(16, 32), torch.randint(0, 4, (16,))
    with (
        PowercapSimulator(tree, {"intel-rapl:0": ConstantPower(50.0)}),
        jouleflow.track(powercap_root=str(tree.root), gpus=False) as run,
    ):
        watcher = jouleflow.torch.watch(model, optimizer, run=run, layers=True)
        for _ in range(20):
            loss = torch.nn.functional.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        watcher.close()
    result = run.result
    first = next(layer for layer in result.layers.layers if layer.name == "0")
    assert first.flops == 3 * 2 * 16 * 32 * 64  # forward 2·B·in·out; backward twice that
    assert first.bytes_moved >= (32 * 64 + 64) * 4 + 16 * 32 * 4 + 16 * 64 * 4
    # J/FLOP spreads the run's layer energy over every call's FLOPs, not one call's
    assert first.j_per_flop == pytest.approx(first.energy_j / (first.flops * first.calls))
    assert first.calls == 20
    assert result.phase("flop-count").count == 1  # the counting pass is visible, not hidden
    assert result.phase("forward").count == 20
    document = result.to_dict()
    # ranked by energy, which on layers this small is a coin toss between Linear and ReLU:
    # the document's J/FLOP is positive for every layer that has FLOPs, None for the others
    rows = document["layers"]["layers"]
    assert all((r["j_per_flop"] > 0) if r["flops"] else r["j_per_flop"] is None for r in rows)
    assert any(r["flops"] for r in rows)


def test_forecast_updates_per_epoch_and_a_budget_stops_training_cleanly(tmp_path):
    tree = single_socket(tmp_path, dram=False)
    model = torch.nn.Linear(8, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    data = torch.utils.data.TensorDataset(torch.randn(64, 8), torch.randint(0, 2, (64,)))
    loader = torch.utils.data.DataLoader(data, batch_size=16)
    budget = jouleflow.torch.Budget(max_kwh=1e-9, action="stop")  # certain to be exceeded
    epochs_run = 0
    with (
        PowercapSimulator(tree, {"intel-rapl:0": ConstantPower(50.0)}),
        jouleflow.track(powercap_root=str(tree.root), gpus=False) as run,
    ):
        watcher = jouleflow.torch.watch(
            model, optimizer, loader, run=run, epochs=10, warmup_epochs=1, budget=budget
        )
        for _ in range(10):
            for x, y in loader:
                loss = torch.nn.functional.cross_entropy(model(x), y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            epochs_run += 1
        watcher.close()
    # epoch 1 is warm-up, epoch 2 gives the first forecast, which exceeds the budget: the
    # remaining passes over the DataLoader yield nothing
    assert watcher.epochs == 2 and watcher.steps == 2 * 4
    assert watcher.should_stop and watcher.budget_verdict.exceeded
    forecast = run.result.forecast
    assert forecast["units_done"] == 2 and forecast["units_total"] == 10
    low, high = forecast["energy_interval_j"]
    assert low <= forecast["predicted_total_energy_j"] <= high
    assert forecast["budget"]["stopped_training"] is True
