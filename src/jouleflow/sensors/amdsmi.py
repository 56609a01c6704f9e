"""AMD GPUs through the amdsmi bindings (ROCm): the per-GPU energy accumulator.

``amdsmi_get_energy_count`` returns a tick count and the energy of one tick in µJ
(``counter_resolution``, about 15.3 µJ); their product is a cumulative counter in µJ like RAPL's,
so windows are differences and exact to a tick. The accumulator is 64 bits wide, so it does not
wrap in practice. The count's key was ``power`` before amdsmi 6.2.1 and is
``energy_accumulator`` since; both are read. GPUs whose driver does not expose the accumulator
(a virtual machine guest, for one) are listed as skipped, never estimated from power here.

Which GPUs: those HIP shows this process (``HIP_VISIBLE_DEVICES``: indices in amdsmi's order, or
``GPU-`` UUID prefixes), matched like CUDA_VISIBLE_DEVICES in the NVML sensor.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from jouleflow._frozen import Frozen
from jouleflow.domains import Availability, ComponentKind, Domain, Method, ReadingKind
from jouleflow.errors import SensorError
from jouleflow.sensors.nvml import FROM_ENV, _Env, select_visible

TYPE_CHECKING = False  # every ``track()`` probes amdsmi: its module imports only what that needs
if TYPE_CHECKING:
    from typing import Any, Literal

INSTALL_FIX = "pip install 'jouleflow[amd]' (needs ROCm)"
VISIBLE_ENV = "HIP_VISIBLE_DEVICES"
_ROCM_FIX = (
    "install ROCm with the amdgpu driver (`amd-smi list` should show the GPUs); in a container, "
    "pass /dev/kfd and /dev/dri in"
)


class _Gpu(Frozen):
    __slots__ = ("index", "uuid", "name", "handle", "max_power_w")  # noqa: RUF023
    index: int
    uuid: str
    name: str
    handle: Any
    max_power_w: float | None

    def __init__(
        self, index: int, uuid: str, name: str, handle: Any, max_power_w: float | None
    ) -> None:
        self._init(locals())


def _import_amdsmi() -> Any:
    import amdsmi

    return amdsmi


def _energy_uj(amd: Any, handle: Any) -> int:
    count = amd.amdsmi_get_energy_count(handle)
    ticks = count.get("energy_accumulator", count.get("power"))
    return int(ticks * count["counter_resolution"])


def _uuid(amd: Any, handle: Any) -> str:
    uuid = str(amd.amdsmi_get_gpu_device_uuid(handle))
    return uuid if uuid.upper().startswith("GPU-") else f"GPU-{uuid}"


def _name(amd: Any, handle: Any) -> str:
    try:
        return str(amd.amdsmi_get_gpu_asic_info(handle)["market_name"])
    except (amd.AmdSmiException, KeyError):
        return "AMD GPU"


def _max_power_w(amd: Any, handle: Any) -> float | None:
    try:
        cap_uw = amd.amdsmi_get_power_cap_info(handle)["power_cap"]  # µW on bare-metal Linux
        return float(cap_uw) / 1e6 if cap_uw else None
    except (amd.AmdSmiException, KeyError, TypeError, ValueError):
        return None


def _domain(gpu: _Gpu) -> Domain:
    return Domain(
        id=f"amdsmi:{gpu.index}",
        kind=ComponentKind.GPU,
        source="amdsmi",
        method=Method.COUNTER,
        reading=ReadingKind.ENERGY_UJ,
        label=f"GPU {gpu.index} {gpu.name}",
        wrap_uj=None,
        max_power_w=gpu.max_power_w,
        edge_read=True,
        index=gpu.index,
        uuid=gpu.uuid,
        name=gpu.name,
    )


@contextlib.contextmanager
def _initialised(amd: Any) -> Iterator[None]:
    amd.amdsmi_init(amd.AmdSmiInitFlags.INIT_AMD_GPUS)
    try:
        yield
    finally:
        with contextlib.suppress(amd.AmdSmiException):
            amd.amdsmi_shut_down()


class AmdSmiSensor:
    """Every visible AMD GPU whose driver exposes the energy accumulator."""

    name = "amdsmi"

    def __init__(self, visible_devices: str | Literal[_Env.FROM_ENV] | None = FROM_ENV) -> None:
        if visible_devices is FROM_ENV:
            self.visible_devices = os.environ.get(VISIBLE_ENV)
            self._visible_name = VISIBLE_ENV
        else:
            self.visible_devices = visible_devices
            self._visible_name = "visible_devices"
        self._amd: Any = None
        self._gpus: tuple[_Gpu, ...] = ()

    def probe(self) -> Availability:
        try:
            amd = _import_amdsmi()
        except ImportError as err:
            return Availability(
                self.name, False, f"the amdsmi package is not installed ({err})", fix=INSTALL_FIX
            )
        except Exception as err:  # the bindings load libamd_smi.so when imported
            return Availability(
                self.name,
                False,
                f"amdsmi is installed but cannot load its library: {err}",
                fix=_ROCM_FIX,
            )
        try:
            with _initialised(amd):
                gpus, skipped, count, note = self._discover(amd)
        except Exception as err:  # probe() never raises; AmdSmiException is the usual one
            return Availability(self.name, False, f"amdsmi: {err}", fix=_ROCM_FIX)
        if count == 0:
            return Availability(self.name, False, "no AMD GPU found", fix=_ROCM_FIX)
        parts = [f"GPU {g.index} {g.name}: energy counter" for g in gpus]
        parts += [f"GPU {i} {name}: no energy counter, skipped" for i, name in skipped]
        selection = ""
        if self.visible_devices is not None:
            selection = (
                f"{self._visible_name}={self.visible_devices!r} shows "
                f"{len(gpus) + len(skipped)} of {count} GPUs" + (f"; {note}" if note else "")
            )
        if not gpus:
            return Availability(
                self.name,
                False,
                "; ".join(p for p in [selection, *parts] if p),
                fix=None if skipped else f"unset {self._visible_name}",
            )
        head = f"{len(gpus)} GPU{'s' if len(gpus) > 1 else ''}"
        return Availability(
            self.name,
            True,
            head + (f" ({selection})" if selection else "") + ": " + "; ".join(parts),
            domains=tuple(f"amdsmi:{g.index}" for g in gpus),
        )

    def _discover(self, amd: Any) -> tuple[list[_Gpu], list[tuple[int, str]], int, str | None]:
        handles = list(amd.amdsmi_get_processor_handles())
        uuids = []
        for handle in handles:
            try:
                uuids.append(_uuid(amd, handle))
            except amd.AmdSmiException:
                uuids.append("")
        chosen, note = select_visible(self.visible_devices, uuids)
        gpus: list[_Gpu] = []
        skipped: list[tuple[int, str]] = []
        for index in chosen:
            handle = handles[index]
            name = _name(amd, handle)
            try:
                _energy_uj(amd, handle)
            except amd.AmdSmiException:
                skipped.append((index, name))
                continue
            gpus.append(_Gpu(index, uuids[index], name, handle, _max_power_w(amd, handle)))
        return gpus, skipped, len(handles), note

    def open(self) -> tuple[Domain, ...]:
        self.close()
        try:
            amd = _import_amdsmi()
        except ImportError as err:
            raise SensorError("the amdsmi package is not installed", fix=INSTALL_FIX) from err
        try:
            amd.amdsmi_init(amd.AmdSmiInitFlags.INIT_AMD_GPUS)
        except amd.AmdSmiException as err:
            raise SensorError(f"amdsmi initialisation failed: {err}", fix=_ROCM_FIX) from err
        self._amd = amd
        try:
            gpus, _skipped, _count, _note = self._discover(amd)
        except amd.AmdSmiException as err:
            self.close()
            raise SensorError(f"amdsmi could not list the GPUs: {err}") from err
        if not gpus:
            self.close()
            raise SensorError("no AMD GPU to measure", fix="see `jouleflow doctor`")
        self._gpus = tuple(gpus)
        return tuple(_domain(g) for g in gpus)

    def read(self) -> tuple[int, ...]:
        amd = self._amd
        try:
            return tuple(_energy_uj(amd, g.handle) for g in self._gpus)
        except amd.AmdSmiException as err:
            raise SensorError(f"amdsmi energy read failed: {err}") from err

    def read_edges(self) -> tuple[int | None, ...]:
        return self.read()

    def close(self) -> None:
        amd, self._amd = self._amd, None
        self._gpus = ()
        if amd is not None:
            with contextlib.suppress(amd.AmdSmiException):
                amd.amdsmi_shut_down()
