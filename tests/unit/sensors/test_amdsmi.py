import importlib.util

import pytest

from jouleflow.errors import SensorError
from jouleflow.sensors.amdsmi import INSTALL_FIX, AmdSmiSensor
from jouleflow.sensors.base import Sensor

no_amdsmi = pytest.mark.skipif(
    importlib.util.find_spec("amdsmi") is not None, reason="amdsmi is installed here"
)


def test_it_is_a_sensor():
    assert isinstance(AmdSmiSensor(visible_devices=None), Sensor)


@no_amdsmi
def test_without_amdsmi_probe_says_what_to_install():
    found = AmdSmiSensor().probe()
    assert found.sensor == "amdsmi" and not found.available and found.measured
    assert "amdsmi" in found.reason
    assert found.fix == INSTALL_FIX == "pip install 'jouleflow[amd]' (needs ROCm)"
    assert found.domains == ()


@no_amdsmi
def test_without_amdsmi_open_raises_a_sensor_error_with_the_fix():
    sensor = AmdSmiSensor()
    with pytest.raises(SensorError) as raised:
        sensor.open()
    assert raised.value.fix == INSTALL_FIX
    assert isinstance(raised.value.__cause__, ImportError)
    sensor.close()
    sensor.close()
    assert sensor.read() == () and sensor.read_edges() == ()


def test_hip_visible_devices_is_read_when_the_sensor_is_made(monkeypatch):
    monkeypatch.setenv("HIP_VISIBLE_DEVICES", "1,0")
    sensor = AmdSmiSensor()
    monkeypatch.delenv("HIP_VISIBLE_DEVICES")
    assert sensor.visible_devices == "1,0"
    assert AmdSmiSensor().visible_devices is None
    assert AmdSmiSensor(visible_devices="").visible_devices == ""
