import os
import shutil
import subprocess
import sys
import time

import pytest

from jouleflow.records import ComponentKind, Method
from jouleflow.sensors.powercap import PowercapSensor
from jouleflow.testing import (
    FakeZone,
    amd_zen,
    build_powercap_tree,
    laptop_with_psys,
    single_socket,
    two_socket_with_dram,
)


def domains_of(root):
    sensor = PowercapSensor(root)
    try:
        return {d.id: d for d in sensor.open()}
    finally:
        sensor.close()


def test_two_sockets_are_classified_by_name_not_by_index(tmp_path):
    tree = two_socket_with_dram(tmp_path)
    domains = domains_of(tree.root)
    assert set(domains) == {
        "rapl:package-0",
        "rapl:package-0:dram",
        "rapl:package-0:core",
        "rapl:package-1",
        "rapl:package-1:dram",
        "rapl:package-1:core",
    }
    assert domains["rapl:package-1:dram"].kind is ComponentKind.DRAM
    assert domains["rapl:package-0:core"].kind is ComponentKind.CPU_CORE
    # packages and DRAM add up to the total; core is a part of its package
    in_total = {i for i, d in domains.items() if d.in_total}
    assert in_total == {
        "rapl:package-0",
        "rapl:package-0:dram",
        "rapl:package-1",
        "rapl:package-1:dram",
    }
    assert all(d.method is Method.COUNTER and d.source == "powercap" for d in domains.values())


def test_zones_reached_through_symlinks_and_the_control_folder_count_once(tmp_path):
    tree = single_socket(tmp_path)
    # both routes exist, like on a real kernel
    assert (tree.root / "intel-rapl" / "intel-rapl:0").is_dir()
    assert (tree.root / "intel-rapl:0").is_symlink()
    assert len(domains_of(tree.root)) == 3


def test_control_folder_alone_is_enough(tmp_path):
    tree = single_socket(tmp_path)
    for entry in tree.root.iterdir():
        if entry.name.startswith("intel-rapl:"):
            entry.unlink()
    assert set(domains_of(tree.root)) == {
        "rapl:package-0",
        "rapl:package-0:core",
        "rapl:package-0:dram",
    }


def test_psys_replaces_package_and_dram_in_the_total(tmp_path):
    tree = laptop_with_psys(tmp_path)
    domains = domains_of(tree.root)
    assert domains["rapl:psys"].kind is ComponentKind.PSYS
    assert [i for i, d in domains.items() if d.in_total] == ["rapl:psys"]
    assert domains["rapl:package-0:uncore"].parent == "rapl:package-0"


def test_amd_zen_has_no_dram(tmp_path):
    domains = domains_of(amd_zen(tmp_path).root)
    assert set(domains) == {"rapl:package-0", "rapl:package-0:core"}


def test_unknown_zone_names_are_skipped_not_guessed(tmp_path):
    tree = build_powercap_tree(
        tmp_path, [FakeZone("intel-rapl:0", "package-0"), FakeZone("intel-rapl:0:0", "gt")]
    )
    assert set(domains_of(tree.root)) == {"rapl:package-0"}


def test_wrap_modulus_and_poll_bound_come_from_the_zone(tmp_path):
    tree = build_powercap_tree(
        tmp_path,
        [
            FakeZone(
                "intel-rapl:0", "package-0", max_energy_range_uj=999_999, max_power_uw=50_000_000
            )
        ],
    )
    (domain,) = domains_of(tree.root).values()
    assert domain.wrap_uj == 1_000_000
    assert domain.max_power_w == 50.0


def test_missing_tree_says_why(tmp_path):
    found = PowercapSensor(tmp_path / "nope").probe()
    assert not found.available
    assert "no powercap tree" in found.reason
    assert "modprobe" in found.fix


def test_reads_are_the_file_contents(tmp_path):
    tree = single_socket(tmp_path, dram=False)
    tree.energy_file("intel-rapl:0").write_text("12345\n")
    tree.energy_file("intel-rapl:0:0").write_text("678\n")
    sensor = PowercapSensor(tree.root)
    sensor.open()
    try:
        assert sensor.read() == (12345, 678)
        tree.energy_file("intel-rapl:0").write_text("22345\n")  # every read is fresh
        assert sensor.read()[0] == 22345
    finally:
        sensor.close()


def without_file_override_capabilities(argv):
    """As root, drop the capabilities that bypass file modes: the child meets them like a user."""
    if os.getuid() != 0:
        return argv
    if shutil.which("setpriv") is None:
        pytest.skip("root without setpriv cannot be denied a file read")
    return ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", *argv]


def test_unreadable_counter_explains_the_permission_fix(tmp_path):
    tree = single_socket(tmp_path)
    tree.energy_file("intel-rapl:0").chmod(0o000)
    code = (
        "from jouleflow.sensors.powercap import PowercapSensor;"
        f"a = PowercapSensor({str(tree.root)!r}).probe();"
        "print(a.available); print(a.reason); print(a.fix)"
    )
    out = subprocess.run(
        without_file_override_capabilities([sys.executable, "-c", code]),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.startswith("False")
    assert "permission denied" in out
    assert "CVE-2020-8694" in out and "udev" in out and "chmod" in out


def test_sensor_reads_simulated_counters_moving(tmp_path):
    from jouleflow.testing import ConstantPower, PowercapSimulator

    tree = single_socket(tmp_path, dram=False)
    with PowercapSimulator(tree, {"intel-rapl:0": ConstantPower(50.0)}):
        sensor = PowercapSensor(tree.root)
        sensor.open()
        first = sensor.read()[0]
        time.sleep(0.05)
        second = sensor.read()[0]
        sensor.close()
    assert 1.5e6 < second - first < 5e6  # ≈ 50 W × 50 ms = 2.5 J
