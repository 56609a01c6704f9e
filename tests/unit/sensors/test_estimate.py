import csv
import time
from importlib import resources

import psutil
import pytest

from jouleflow.records import Availability, ComponentKind, Method, ReadingKind
from jouleflow.sensors.base import Sensor
from jouleflow.sensors.cpu_table import (
    lookup_tdp,
    normalise_cpu_name,
    read_core_count,
    read_cpu_model,
    read_socket_count,
)
from jouleflow.sensors.estimate import (
    DEFAULT_IDLE_FRACTION,
    GENERIC_TDP_PER_CORE_W,
    GENERIC_UNCERTAINTY_REL,
    LARGE_MEMORY_GIB,
    LARGE_MEMORY_UNCERTAINTY_REL,
    MEMORY_UNCERTAINTY_REL,
    TDP_UNCERTAINTY_REL,
    CpuEstimator,
    MemoryEstimator,
    cpu_power_w,
    utilisation,
)
from jouleflow.sensors.io_estimate import DiskEstimator, NetworkEstimator, bytes_power_mw

# --- fake /proc trees, named by what they model ------------------------------------------------
XEON_6248 = "Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz"
EPYC_7763 = "AMD EPYC 7763 64-Core Processor"


def _x86_block(cpu, model_name, physical_id, core_id):
    return {
        "processor": cpu,
        "vendor_id": "GenuineIntel" if "Intel" in model_name else "AuthenticAMD",
        "cpu family": 6,
        "model": 85,
        "model name": model_name,
        "stepping": 7,
        "cpu MHz": "2500.000",
        "physical id": physical_id,
        "siblings": 2,
        "core id": core_id,
        "cpu cores": 2,
        "flags": "fpu vme de pse tsc msr pae mce",
    }


def write_proc(root, blocks):
    root.mkdir(parents=True, exist_ok=True)
    text = "\n\n".join("\n".join(f"{k}\t: {v}" for k, v in b.items()) for b in blocks)
    (root / "cpuinfo").write_text(text + "\n\n")
    return root


def intel_xeon_two_sockets(tmp_path):
    """2 sockets x 2 cores, one thread each."""
    blocks = [_x86_block(i, XEON_6248, i // 2, i % 2) for i in range(4)]
    return write_proc(tmp_path / "xeon2s", blocks)


def amd_epyc_one_socket(tmp_path):
    blocks = [_x86_block(i, EPYC_7763, 0, i) for i in range(4)]
    return write_proc(tmp_path / "epyc1s", blocks)


def unknown_model_one_socket(tmp_path, cores=6):
    blocks = [_x86_block(i, "Intel(R) Xeon(R) CPU @ 2.20GHz", 0, i) for i in range(cores)]
    return write_proc(tmp_path / "unknown", blocks)


def aarch64_no_model_name(tmp_path):
    """What a Graviton / Ampere kernel prints: no model name, no physical id, no core id."""
    block = {
        "processor": 0,
        "BogoMIPS": "243.75",
        "Features": "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid",
        "CPU implementer": "0x41",
        "CPU architecture": 8,
        "CPU variant": "0x3",
        "CPU part": "0xd0c",
        "CPU revision": 1,
    }
    return write_proc(tmp_path / "aarch64", [dict(block, processor=i) for i in range(2)])


# --- /proc/cpuinfo -----------------------------------------------------------------------------
def test_cpuinfo_of_an_intel_xeon_with_two_sockets(tmp_path):
    root = intel_xeon_two_sockets(tmp_path)
    assert read_cpu_model(root) == XEON_6248
    assert read_socket_count(root) == 2
    assert read_core_count(root) == 4


def test_cpuinfo_of_an_amd_epyc(tmp_path):
    root = amd_epyc_one_socket(tmp_path)
    assert read_cpu_model(root) == EPYC_7763
    assert read_socket_count(root) == 1
    assert read_core_count(root) == 4


def test_cpuinfo_of_aarch64_has_no_model_name(tmp_path):
    root = aarch64_no_model_name(tmp_path)
    assert read_cpu_model(root) is None
    assert read_socket_count(root) == 1


def test_missing_cpuinfo_means_unknown_not_an_error(tmp_path):
    assert read_cpu_model(tmp_path / "nothing-here") is None
    assert read_socket_count(tmp_path / "nothing-here") == 1


# --- TDP table ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("cpuinfo_name", "tdp_w", "matched"),
    [
        (XEON_6248, 150.0, "Intel Xeon Gold 6248"),
        ("Intel(R) Xeon(R) Gold 6248R CPU @ 3.00GHz", 205.0, "Intel Xeon Gold 6248R"),
        ("Intel(R) Core(TM) i7-8700K CPU @ 3.70GHz", 95.0, "Intel Core i7-8700K"),
        (EPYC_7763, 280.0, "AMD EPYC 7763"),
        ("AMD Ryzen 9 5950X 16-Core Processor", 105.0, "AMD Ryzen 9 5950X"),
        ("Intel(R) Xeon(R) CPU E5-2686 v4 @ 2.30GHz", 145.0, "Intel Xeon E5-2686 v4"),
        ("13th Gen Intel(R) Core(TM) i9-13900K", 125.0, "Intel Core i9-13900K"),
        ("Intel(R) Xeon(R) Platinum 8480+", 350.0, "Intel Xeon Platinum 8480+"),
        ("AMD Phenom(tm) II X4 940 Processor", 125.0, "AMD Phenom II X4 940 BE"),
    ],
)
def test_tdp_lookup_of_real_cpuinfo_names(cpuinfo_name, tdp_w, matched):
    assert lookup_tdp(cpuinfo_name) == (tdp_w, matched)


@pytest.mark.parametrize(
    "name",
    [
        "Intel(R) Xeon(R) CPU @ 2.20GHz",  # Google Cloud hides the model: no number to match
        "Intel(R) Xeon(R) Processor",
        "Totally Unknown 9999QX",
        "AMD Imaginary 6248",  # an Intel model number under another vendor is no match
        "",
    ],
)
def test_tdp_lookup_of_unknown_names_is_none(name):
    assert lookup_tdp(name) is None


def test_normalisation_strips_marks_frequency_core_count_and_generation():
    assert normalise_cpu_name("Intel(R) Core(TM) i7-8700K CPU @ 3.70GHz") == "intel core i7-8700k"
    assert normalise_cpu_name("AMD Ryzen 9 5950X 16-Core Processor") == "amd ryzen 9 5950x"
    assert normalise_cpu_name("13th Gen Intel® Core™ i9-13900K") == "intel core i9-13900k"
    assert normalise_cpu_name("Intel\xa0Atom  E625CT") == "intel atom e625ct"


def test_every_row_of_the_shipped_table_finds_a_tdp():
    text = resources.files("jouleflow").joinpath("data").joinpath("cpu_tdp.csv").read_text()
    rows = list(csv.DictReader(text.splitlines()))
    assert len(rows) > 4000
    by_name = {}
    for row in rows:
        by_name.setdefault(normalise_cpu_name(row["model"]), set()).add(float(row["tdp_w"]))
    for row in rows:
        found = lookup_tdp(row["model"])
        assert found is not None, row["model"]
        assert found[0] == max(by_name[normalise_cpu_name(row["model"])])


# --- CPU estimator -----------------------------------------------------------------------------
def test_cpu_power_model_is_linear_between_floor_and_tdp():
    assert cpu_power_w(100, 0.25, 0.0) == 25
    assert cpu_power_w(100, 0.25, 0.5) == 62.5
    assert cpu_power_w(100, 0.25, 1.0) == 100


def test_utilisation_from_cpu_second_deltas():
    assert utilisation((10.0, 40.0), (15.0, 50.0)) == 0.5
    assert utilisation((10.0, 40.0), (10.0, 40.0)) is None  # no tick elapsed
    assert utilisation((10.0, 40.0), (30.0, 50.0)) == 1.0  # clamped


def test_cpu_estimator_with_given_tdp_stays_between_floor_and_tdp(tmp_path):
    estimator = CpuEstimator(tdp_w=100.0, proc_root=amd_epyc_one_socket(tmp_path))
    estimator.open()
    readings = [estimator.read()[0]]
    deadline = time.monotonic() + 0.3
    while time.monotonic() < deadline:  # some real utilisation
        sum(i * i for i in range(1000))
    readings.append(estimator.read()[0])
    time.sleep(0.05)
    readings.append(estimator.read()[0])
    estimator.close()
    assert readings[0] == 25_000  # the first read has no interval yet: the idle floor
    assert all(isinstance(r, int) and 25_000 <= r <= 100_000 for r in readings)


def test_cpu_estimator_reads_power_from_utilisation_and_holds_without_a_tick(tmp_path):
    samples = iter([(0.0, 0.0), (5.0, 10.0), (5.0, 10.0), (15.0, 20.0), (15.0, 30.0)])
    estimator = CpuEstimator(
        tdp_w=100.0, proc_root=amd_epyc_one_socket(tmp_path), cpu_seconds=lambda: next(samples)
    )
    estimator.open()
    assert [estimator.read() for _ in range(5)] == [
        (25_000,),  # first read: floor
        (62_500,),  # 50 % busy
        (62_500,),  # no tick elapsed: held
        (100_000,),  # 100 % busy
        (25_000,),  # idle
    ]
    assert estimator.read_edges() == (None,)


def test_given_tdp_is_per_socket_and_says_so(tmp_path):
    estimator = CpuEstimator(tdp_w=150.0, proc_root=intel_xeon_two_sockets(tmp_path))
    (domain,) = estimator.open()
    assert estimator.tdp().total_w == 300.0
    assert domain.model.startswith("user-given TDP 150 W × 2 sockets")
    assert domain.uncertainty_rel == TDP_UNCERTAINTY_REL


def test_tdp_from_the_table_times_sockets(tmp_path):
    estimator = CpuEstimator(proc_root=intel_xeon_two_sockets(tmp_path))
    (domain,) = estimator.open()
    choice = estimator.tdp()
    assert (choice.origin, choice.total_w) == ("table", 300.0)
    assert "TDP 150 W (Intel Xeon Gold 6248, table cpu_tdp) × 2 sockets" in domain.model
    assert f"{DEFAULT_IDLE_FRACTION:g} idle floor" in domain.model
    assert domain.uncertainty_rel == TDP_UNCERTAINTY_REL
    assert estimator.probe().fix is None


def test_unknown_model_falls_back_to_generic_per_core_figure(tmp_path):
    estimator = CpuEstimator(proc_root=unknown_model_one_socket(tmp_path, cores=6))
    availability = estimator.probe()
    (domain,) = estimator.open()
    assert estimator.tdp().total_w == 6 * GENERIC_TDP_PER_CORE_W
    assert domain.uncertainty_rel == GENERIC_UNCERTAINTY_REL > TDP_UNCERTAINTY_REL
    assert "generic" in domain.model and "not in table cpu_tdp" in domain.model
    assert availability.available and "--cpu-tdp" in availability.fix


def test_aarch64_without_model_name_uses_the_generic_figure(tmp_path):
    estimator = CpuEstimator(proc_root=aarch64_no_model_name(tmp_path))
    (domain,) = estimator.open()
    assert estimator.tdp().origin == "generic"
    assert "CPU model unknown" in domain.model
    assert estimator.tdp().total_w >= GENERIC_TDP_PER_CORE_W


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError):
        CpuEstimator(tdp_w=0)
    with pytest.raises(ValueError):
        CpuEstimator(idle_fraction=1.5)
    with pytest.raises(ValueError):
        MemoryEstimator(w_per_gb=-1)


# --- memory ------------------------------------------------------------------------------------
def test_memory_estimate_is_installed_gib_times_w_per_gib():
    estimator = MemoryEstimator()
    (domain,) = estimator.open()
    gib = psutil.virtual_memory().total / 2**30
    assert estimator.read() == (round(gib * 0.375 * 1000),)
    assert estimator.read() == estimator.read()  # constant
    expected = LARGE_MEMORY_UNCERTAINTY_REL if gib > LARGE_MEMORY_GIB else MEMORY_UNCERTAINTY_REL
    assert domain.uncertainty_rel == expected
    assert "W per GiB" in domain.model and "CodeCarbon" in domain.model


def test_memory_w_per_gb_is_a_parameter():
    estimator = MemoryEstimator(w_per_gb=1.0)
    estimator.open()
    assert estimator.read() == (round(psutil.virtual_memory().total / 2**30 * 1000),)


# --- disk and network --------------------------------------------------------------------------
def test_bytes_to_average_power():
    assert bytes_power_mw(10**9, 10e-9, 10**9) == 10_000  # 1 GB in 1 s at 10 nJ/B: 10 W
    assert bytes_power_mw(10**6, 5e-9, 10**8) == 50  # 1 MB in 0.1 s at 5 nJ/B: 50 mW
    assert bytes_power_mw(123, 10e-9, 0) == 0


def test_disk_power_from_bytes_moved_per_device(tmp_path):
    disks = {"sda": 0, "sdb": 100}
    now_ns = [0]
    estimator = DiskEstimator(
        sys_root=tmp_path / "no-sysfs", counters=lambda: dict(disks), clock=lambda: now_ns[0]
    )
    estimator.open()
    assert estimator.devices == ["sda", "sdb"]
    assert estimator.read() == (0,)  # baseline
    disks["sda"] += 10**8
    now_ns[0] += 100_000_000
    assert estimator.read() == (10_000,)  # 100 MB in 0.1 s at 10 nJ/B
    del disks["sdb"]
    disks["sda"] -= 5  # a reset counter is no traffic either
    now_ns[0] += 100_000_000
    assert estimator.read() == (0,)
    disks["sdb"] = 10**9  # a device coming back counts from its next reading only
    now_ns[0] += 100_000_000
    assert estimator.read() == (0,)
    disks["sdb"] += 10**7
    now_ns[0] += 100_000_000
    assert estimator.read() == (1_000,)


def test_disk_counts_hardware_disks_only(tmp_path):
    sys_root = tmp_path / "sys"
    (sys_root / "block" / "nvme0n1" / "device").mkdir(parents=True)
    (sys_root / "block" / "dm-0").mkdir(parents=True)  # LUKS / LVM on top of nvme0n1
    (sys_root / "block" / "loop0").mkdir(parents=True)
    names = {"nvme0n1": 0, "nvme0n1p1": 0, "dm-0": 0, "loop0": 0}
    estimator = DiskEstimator(sys_root=sys_root, counters=lambda: names)
    assert estimator.probe().available
    (domain,) = estimator.open()
    assert estimator.devices == ["nvme0n1"]
    assert (domain.id, domain.kind, domain.source) == (
        "estimate:disk",
        ComponentKind.DISK_ESTIMATE,
        "j-per-byte-model",
    )
    assert "nJ per byte" in domain.model and domain.uncertainty_rel == 1.0


def test_no_disks_means_not_available(tmp_path):
    for counters in (lambda: None, lambda: {}, lambda: {"loop0": 5, "zram0": 7}):
        availability = DiskEstimator(sys_root=tmp_path / "no-sysfs", counters=counters).probe()
        assert not availability.available and not availability.measured
        assert "no disk counters" in availability.reason


def test_network_skips_loopback_and_virtual_interfaces(tmp_path):
    sys_root = tmp_path / "sys"
    (sys_root / "class" / "net" / "enp3s0" / "device").mkdir(parents=True)
    for virtual in ("lo", "docker0", "veth1a2b"):
        (sys_root / "class" / "net" / virtual).mkdir(parents=True)
    names = {"lo": 0, "enp3s0": 0, "docker0": 0, "veth1a2b": 0}
    estimator = NetworkEstimator(sys_root=sys_root, counters=lambda: names)
    estimator.open()
    assert estimator.devices == ["enp3s0"]


def test_network_in_a_container_counts_its_veth(tmp_path):
    names = {"lo": 0, "eth0": 0}  # no sysfs device links inside a container
    estimator = NetworkEstimator(sys_root=tmp_path / "sys", counters=lambda: names)
    (domain,) = estimator.open()
    assert estimator.devices == ["eth0"]
    assert (domain.id, domain.kind) == ("estimate:network", ComponentKind.NETWORK_ESTIMATE)
    assert (
        NetworkEstimator(sys_root=tmp_path, counters=lambda: {"lo": 1}).probe().available is False
    )


# --- the contract every estimator keeps ---------------------------------------------------------
def all_estimators(tmp_path):
    return [
        CpuEstimator(tdp_w=65.0, proc_root=amd_epyc_one_socket(tmp_path)),
        CpuEstimator(proc_root=intel_xeon_two_sockets(tmp_path)),
        MemoryEstimator(),
        DiskEstimator(),
        NetworkEstimator(),
    ]


def test_estimators_are_sensors_labelled_as_estimates(tmp_path):
    for estimator in all_estimators(tmp_path):
        assert isinstance(estimator, Sensor)
        availability = estimator.probe()
        assert isinstance(availability, Availability)
        assert availability.measured is False
        if not availability.available:  # a host without disks or NICs
            continue
        assert "no sensor involved" in availability.reason
        domains = estimator.open()
        assert availability.domains == tuple(d.id for d in domains)
        for domain in domains:
            assert domain.method is Method.ESTIMATE
            assert domain.reading is ReadingKind.POWER_MW
            assert domain.edge_read is False
            assert domain.model and domain.uncertainty_rel > 0
            assert domain.id.startswith("estimate:")
        first, second = estimator.read(), estimator.read()
        assert len(first) == len(second) == len(domains)
        assert all(isinstance(v, int) and v >= 0 for v in first + second)
        assert estimator.read_edges() == (None,) * len(domains)
        estimator.close()
        estimator.close()


def test_devices_come_from_sysfs_without_touching_the_counters(tmp_path):
    """A run's start lists the disks from sysfs; the counters (psutil) wait for ``prime``."""
    sys_root = tmp_path / "sys"
    (sys_root / "block" / "nvme0n1" / "device").mkdir(parents=True)
    (sys_root / "block" / "cciss!c0d0" / "device").mkdir(parents=True)
    (sys_root / "block" / "loop0").mkdir(parents=True)
    calls = []
    disks = {"nvme0n1": 0, "cciss/c0d0": 0}

    def counters():
        calls.append(1)
        return dict(disks)

    now_ns = [0]
    estimator = DiskEstimator(sys_root=sys_root, counters=counters, clock=lambda: now_ns[0])
    assert estimator.probe().available
    estimator.open()
    assert estimator.devices == ["cciss/c0d0", "nvme0n1"] and calls == []
    estimator.prime()  # the baseline, taken on the sampler's thread
    assert len(calls) == 1
    disks["nvme0n1"] += 10**8
    now_ns[0] += 10**8
    assert estimator.read() == (10_000,)  # counted from the primed baseline
    estimator.prime()  # a baseline exists: priming again reads nothing
    assert len(calls) == 2
