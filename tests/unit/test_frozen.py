"""The light frozen records of a run's start behave like the frozen dataclasses they replaced."""

import copy
import pickle

import pytest

from jouleflow.config import MeterConfig
from jouleflow.domains import Availability, ComponentKind, Domain, Method, ReadingKind


def make_domain(**changes):
    fields = dict(
        id="rapl:package-0",
        kind=ComponentKind.CPU_PACKAGE,
        source="powercap",
        method=Method.COUNTER,
        reading=ReadingKind.ENERGY_UJ,
        label="CPU package-0",
    )
    return Domain(**{**fields, **changes})


def test_equal_by_value_hashable_and_immutable():
    a, b = make_domain(), make_domain()
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a != make_domain(in_total=False) and a != ("rapl:package-0",)
    with pytest.raises(AttributeError, match="immutable"):
        a.label = "other"
    assert a.edge_read is True and a.tick_ns == 1_000_000 and a.wrap_uj is None  # defaults


def test_replace_pickle_and_copy_keep_every_field():
    a = make_domain(wrap_uj=2**32, model="m")
    b = a.replace(label="x")
    assert b.label == "x" and b.wrap_uj == 2**32 and a.label == "CPU package-0"
    assert pickle.loads(pickle.dumps(a)) == a and copy.deepcopy(a) == a
    available = Availability("powercap", True, "3 RAPL zones", domains=("rapl:package-0",))
    assert pickle.loads(pickle.dumps(available)) == available
    assert "reason='3 RAPL zones'" in repr(available)


def test_meter_config_takes_its_roots_from_the_environment(monkeypatch):
    monkeypatch.setenv("JOULEFLOW_POWERCAP_ROOT", "/tmp/fake-powercap")
    monkeypatch.delenv("JOULEFLOW_NVML_LIBRARY", raising=False)
    config = MeterConfig(interval_s=0.5)
    assert config.powercap_root == "/tmp/fake-powercap" and config.nvml_library is None
    assert MeterConfig(powercap_root="/x").powercap_root == "/x"
    assert config.replace(gpus=False).interval_s == 0.5
