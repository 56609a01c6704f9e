"""NVIDIA GPUs through NVML (the nvidia-ml-py bindings): the energy counter where a GPU has one.

Volta and later GPUs keep a 64-bit millijoule counter (``nvmlDeviceGetTotalEnergyConsumption``):
its difference over a window is exact to 1 mJ, so it is preferred. Older GPUs only report
power, which the sampler integrates. There the ``NVML_FI_DEV_POWER_INSTANT`` field is preferred
when the driver has it, because ``nvmlDeviceGetPowerUsage`` on Ampere and later is a 1 s
trailing average that lags every change of load by up to a second.

Which GPUs: those CUDA shows this process. NVML ignores ``CUDA_VISIBLE_DEVICES``, so its entries
(indices, or ``GPU-`` UUIDs and their unique prefixes) are matched here the way CUDA matches
them: in their order, and an entry that matches nothing (or repeats) ends the list. Indices are
NVML's, which number GPUs in PCI bus order; they are CUDA's too under
``CUDA_DEVICE_ORDER=PCI_BUS_ID`` or when all GPUs are alike; UUIDs are never ambiguous. Domain ids
always use the NVML index, so they name the same board whatever the variable says.

Which library: pynvml keeps one library per process in its module global ``nvmlLib`` and loads
only ``libnvidia-ml.so.1`` from the linker's search path. To use a given file (a driver outside
that path, or jouleflow.testing's simulated one), this module sets ``pynvml.nvmlLib`` to
``ctypes.CDLL(path)`` and clears pynvml's function-pointer cache, under pynvml's own load lock,
before ``nvmlInit``; ``_LoadNvmlLibrary`` then finds a library loaded and keeps it. Switching is
refused while anyone in the process holds NVML initialised with another library.
"""

from __future__ import annotations

import contextlib
import enum
import os
import sys
from collections.abc import Callable, Iterator, Sequence

from jouleflow._frozen import Frozen
from jouleflow.domains import Availability, ComponentKind, Domain, Method, ReadingKind
from jouleflow.errors import SensorError

TYPE_CHECKING = False  # every ``track()`` probes NVML: its module imports only what that needs
if TYPE_CHECKING:
    from typing import Any, Literal

INSTALL_FIX = "pip install 'jouleflow[nvidia]'"
DEFAULT_LIBRARY = "libnvidia-ml.so.1"  # the name pynvml loads on Linux
# nvml.h, nvmlDeviceGetPowerUsage: "accurate to within +/- 5% of current power draw".
NVML_POWER_UNCERTAINTY = 0.05
# The counter's accuracy is not documented separately; its window error is the 1 mJ tick.
NVML_COUNTER_UNCERTAINTY = 0.0
_FI_DEV_POWER_INSTANT = 186  # nvml.h; used when the bindings predate the constant
_DRIVER_FIX = (
    "install the NVIDIA driver, which ships libnvidia-ml.so.1 (`nvidia-smi` should list the "
    "GPUs); in a container, start it with the NVIDIA Container Toolkit (`docker run --gpus all`)"
)


class _Env(enum.Enum):
    FROM_ENV = "from the environment"


FROM_ENV: Literal[_Env.FROM_ENV] = _Env.FROM_ENV
"""Default of ``visible_devices``: read the vendor's variable when the sensor is created."""


def select_visible(spec: str | None, uuids: Sequence[str]) -> tuple[list[int], str | None]:
    """Indices of the GPUs that a ``*_VISIBLE_DEVICES`` value shows, in its order.

    ``spec`` None shows every GPU. Returns the indices and, when an entry ended the list early,
    a note saying which one.
    """
    if spec is None:
        return list(range(len(uuids))), None
    if not spec.strip():
        return [], None
    chosen: list[int] = []
    for raw in spec.split(","):
        entry = raw.strip()
        index = _match_entry(entry, uuids)
        if index is None or index in chosen:
            why = "repeats a GPU" if index is not None else "matches no GPU"
            return chosen, f"entry {entry!r} {why} and ends the list, as it does for CUDA"
        chosen.append(index)
    return chosen, None


def _match_entry(entry: str, uuids: Sequence[str]) -> int | None:
    if entry.isascii() and entry.isdigit():
        index = int(entry)
        return index if index < len(uuids) else None
    if entry[:4].upper() == "GPU-":
        wanted = entry.lower()
        hits = [i for i, uuid in enumerate(uuids) if uuid.lower().startswith(wanted)]
        return hits[0] if len(hits) == 1 else None
    return None


class _LibraryError(Exception):
    """The NVML library could not be loaded or switched to."""

    def __init__(self, message: str, fix: str) -> None:
        super().__init__(message)
        self.fix = fix


def _loadable(library: str) -> bool:
    """Whether the dynamic loader can open ``library`` (a path or a soname)."""
    import ctypes

    try:
        ctypes.CDLL(library)
    except OSError:
        return False
    return True


def _import_pynvml() -> Any:
    import pynvml

    return pynvml


def _bind_library(nv: Any, library_path: str | None) -> None:
    """Make pynvml call ``library_path``, or (None) the library pynvml finds by itself."""
    current = nv.nvmlLib
    current_name = getattr(current, "_name", None) if current is not None else None
    if library_path is None:
        if current is None or current_name == DEFAULT_LIBRARY or sys.platform == "win32":
            return
    elif current_name == library_path:
        return
    with nv.libLoadLock:
        if nv._nvmlLib_refcount > 0:
            raise _LibraryError(
                f"NVML is already in use in this process with {current_name}; "
                f"cannot switch to {library_path or DEFAULT_LIBRARY}",
                fix="use one NVML library per process (or shut NVML down first)",
            )
        try:
            import ctypes

            nv.nvmlLib = None if library_path is None else ctypes.CDLL(library_path)
        except OSError as err:
            raise _LibraryError(
                f"cannot load the NVML library: {err}",
                fix="point --nvml-library (JOULEFLOW_NVML_LIBRARY) at the driver's "
                f"{DEFAULT_LIBRARY}, or leave it unset to use the system's",
            ) from err
        nv._nvmlGetFunctionPointer_cache.clear()


class _Source(enum.Enum):
    COUNTER = "energy counter"
    INSTANT = "instant power (NVML_FI_DEV_POWER_INSTANT), integrated"
    AVERAGE = "power (nvmlDeviceGetPowerUsage, averaged by the GPU), integrated"


class _Gpu(Frozen):
    __slots__ = ("index", "uuid", "name", "handle", "source", "max_power_w")  # noqa: RUF023
    index: int
    uuid: str
    name: str
    handle: Any
    source: _Source
    max_power_w: float | None

    def __init__(
        self,
        index: int,
        uuid: str,
        name: str,
        handle: Any,
        source: _Source,
        max_power_w: float | None,
    ) -> None:
        self._init(locals())


# nvmlValueType_t -> the member of nvmlValue_t that holds it
_VALUE_FIELDS = {
    0: "dVal",
    1: "uiVal",
    2: "ulVal",
    3: "ullVal",
    4: "sllVal",
    5: "siVal",
    6: "usVal",
}


def _instant_power_mw(nv: Any, handle: Any) -> int:
    field_id = getattr(nv, "NVML_FI_DEV_POWER_INSTANT", _FI_DEV_POWER_INSTANT)
    field = nv.nvmlDeviceGetFieldValues(handle, [(field_id, 0)])[0]
    if field.nvmlReturn != nv.NVML_SUCCESS:
        raise nv.NVMLError(field.nvmlReturn)
    return round(float(getattr(field.value, _VALUE_FIELDS.get(field.valueType, "uiVal"))))


def _choose_source(nv: Any, handle: Any) -> _Source | None:
    """The best reading this GPU supports; other NVML errors propagate."""
    unsupported = (nv.NVMLError_NotSupported, nv.NVMLError_FunctionNotFound)
    with contextlib.suppress(*unsupported):
        nv.nvmlDeviceGetTotalEnergyConsumption(handle)
        return _Source.COUNTER
    with contextlib.suppress(*unsupported, nv.NVMLError_InvalidArgument):
        _instant_power_mw(nv, handle)
        return _Source.INSTANT
    with contextlib.suppress(*unsupported):
        nv.nvmlDeviceGetPowerUsage(handle)
        return _Source.AVERAGE
    return None


def _max_power_w(nv: Any, handle: Any) -> float | None:
    try:
        return float(nv.nvmlDeviceGetPowerManagementLimit(handle)) / 1000
    except nv.NVMLError:
        return None


def _domain(gpu: _Gpu) -> Domain:
    counter = gpu.source is _Source.COUNTER
    return Domain(
        id=f"nvml:{gpu.index}",
        kind=ComponentKind.GPU,
        source="nvml",
        method=Method.COUNTER if counter else Method.POWER_INTEGRATION,
        reading=ReadingKind.ENERGY_UJ if counter else ReadingKind.POWER_MW,
        label=f"GPU {gpu.index} {gpu.name}",
        wrap_uj=None,  # 64-bit millijoules: centuries at any power
        max_power_w=gpu.max_power_w,
        edge_read=counter,
        uncertainty_rel=NVML_COUNTER_UNCERTAINTY if counter else NVML_POWER_UNCERTAINTY,
        index=gpu.index,
        uuid=gpu.uuid,
        name=gpu.name,
    )


def _reader(nv: Any, gpu: _Gpu) -> Callable[[], int]:
    handle = gpu.handle
    if gpu.source is _Source.COUNTER:
        energy_mj = nv.nvmlDeviceGetTotalEnergyConsumption
        return lambda: int(energy_mj(handle)) * 1000
    if gpu.source is _Source.INSTANT:
        return lambda: _instant_power_mw(nv, handle)
    power_mw = nv.nvmlDeviceGetPowerUsage
    return lambda: int(power_mw(handle))


@contextlib.contextmanager
def _initialised(nv: Any, library_path: str | None) -> Iterator[None]:
    _bind_library(nv, library_path)
    nv.nvmlInit()
    try:
        yield
    finally:
        with contextlib.suppress(nv.NVMLError):
            nv.nvmlShutdown()


def _plural(n: int) -> str:
    return f"{n} GPU" if n == 1 else f"{n} GPUs"


class NvmlSensor:
    """Every visible NVIDIA GPU: the energy counter where there is one, power otherwise."""

    name = "nvml"

    def __init__(
        self,
        library_path: str | os.PathLike[str] | None = None,
        visible_devices: str | Literal[_Env.FROM_ENV] | None = FROM_ENV,
    ) -> None:
        self.library_path = os.fspath(library_path) if library_path is not None else None
        if visible_devices is FROM_ENV:
            self.visible_devices = os.environ.get("CUDA_VISIBLE_DEVICES")
            self._visible_name = "CUDA_VISIBLE_DEVICES"
        else:
            self.visible_devices = visible_devices
            self._visible_name = "visible_devices"
        self._nv: Any = None
        self._gpus: tuple[_Gpu, ...] = ()
        self._readers: tuple[Callable[[], int], ...] = ()

    # -- probing --------------------------------------------------------------------------------
    def probe(self) -> Availability:
        import importlib.util

        # Most machines have no NVIDIA driver: learn it in ~0.1 ms instead of importing pynvml
        # (~15 ms of a run's start). A path given explicitly goes through pynvml for its message.
        bindings = importlib.util.find_spec("pynvml") is not None
        if bindings and self.library_path is None and not _loadable(DEFAULT_LIBRARY):
            reason = f"{DEFAULT_LIBRARY} (NVML, part of the NVIDIA driver) was not found"
            return Availability(self.name, False, reason, fix=_DRIVER_FIX)
        try:
            nv = _import_pynvml()
        except ImportError as err:
            return Availability(
                self.name,
                False,
                f"the nvidia-ml-py package is not installed ({err})",
                fix=INSTALL_FIX,
            )
        try:
            with _initialised(nv, self.library_path):
                gpus, skipped, count, note = self._discover(nv)
                driver = _driver_version(nv)
        except _LibraryError as err:
            return Availability(self.name, False, str(err), fix=err.fix)
        except nv.NVMLError as err:
            reason, fix = self._explain(nv, err)
            return Availability(self.name, False, reason, fix=fix)
        except Exception as err:  # probe() never raises: an unexpected failure is its reason
            return Availability(self.name, False, f"NVML probe failed: {err!r}")
        if count == 0:
            return Availability(
                self.name,
                False,
                f"no NVIDIA GPU found (NVML answers, driver {driver})",
                fix="check `nvidia-smi -L`; in a container, pass the GPUs in (`--gpus all`)",
            )
        parts = [f"GPU {g.index} {g.name}: {g.source.value}" for g in gpus]
        parts += [f"GPU {i} {name}: no energy or power reading" for i, name in skipped]
        selection = self._selection_text(count, len(gpus) + len(skipped), note)
        if not gpus and not skipped:
            return Availability(
                self.name,
                False,
                selection,
                fix=f"unset {self._visible_name}, or name GPUs by index (0..{count - 1}) or by "
                "UUID (`nvidia-smi -L`)",
            )
        if not gpus:
            return Availability(
                self.name, False, "no visible GPU reports energy or power: " + "; ".join(parts)
            )
        head = f"{_plural(len(gpus))}, driver {driver}" + (f" ({selection})" if selection else "")
        return Availability(
            self.name,
            True,
            f"{head}: " + "; ".join(parts),
            domains=tuple(f"nvml:{g.index}" for g in gpus),
        )

    def _selection_text(self, count: int, shown: int, note: str | None) -> str:
        if self.visible_devices is None:
            return ""
        setting = f"{self._visible_name}={self.visible_devices!r}"
        if not self.visible_devices.strip():
            return f"{setting} hides all {_plural(count)}"
        text = f"{setting} shows {shown} of {_plural(count)}"
        return f"{text}; {note}" if note else text

    def _explain(self, nv: Any, err: Exception) -> tuple[str, str | None]:
        library = self.library_path or DEFAULT_LIBRARY
        if isinstance(err, nv.NVMLError_LibraryNotFound):
            return f"{library} (NVML, part of the NVIDIA driver) was not found", _DRIVER_FIX
        if isinstance(err, nv.NVMLError_DriverNotLoaded):
            return (
                "the NVIDIA kernel driver is not loaded",
                "load it (`sudo modprobe nvidia`) or reinstall the driver; `nvidia-smi` "
                "should list the GPUs",
            )
        if isinstance(err, nv.NVMLError_NoPermission):
            return (
                "NVML: insufficient permissions",
                "this user needs read and write access to /dev/nvidia*",
            )
        if isinstance(err, nv.NVMLError_LibRmVersionMismatch):
            return (
                "the NVML library and the loaded kernel driver are different versions",
                "reboot after a driver upgrade (or reload the nvidia modules)",
            )
        return f"NVML error: {err}", None

    def _discover(self, nv: Any) -> tuple[list[_Gpu], list[tuple[int, str]], int, str | None]:
        """GPUs to measure, visible GPUs that cannot be, the GPU count, a selection note."""
        count = int(nv.nvmlDeviceGetCount())
        handles = [nv.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
        uuids = [str(nv.nvmlDeviceGetUUID(h)) for h in handles]
        chosen, note = select_visible(self.visible_devices, uuids)
        gpus: list[_Gpu] = []
        skipped: list[tuple[int, str]] = []
        for index in chosen:
            handle = handles[index]
            name = str(nv.nvmlDeviceGetName(handle))
            source = _choose_source(nv, handle)
            if source is None:
                skipped.append((index, name))
                continue
            gpus.append(_Gpu(index, uuids[index], name, handle, source, _max_power_w(nv, handle)))
        return gpus, skipped, count, note

    # -- measuring ------------------------------------------------------------------------------
    def open(self) -> tuple[Domain, ...]:
        self.close()
        try:
            nv = _import_pynvml()
        except ImportError as err:
            raise SensorError("the nvidia-ml-py package is not installed", fix=INSTALL_FIX) from err
        try:
            _bind_library(nv, self.library_path)
            nv.nvmlInit()
        except _LibraryError as err:
            raise SensorError(str(err), fix=err.fix) from (err.__cause__ or err)
        except nv.NVMLError as err:
            reason, fix = self._explain(nv, err)
            raise SensorError(f"NVML initialisation failed: {reason}", fix=fix) from err
        self._nv = nv
        try:
            gpus, _skipped, _count, _note = self._discover(nv)
        except nv.NVMLError as err:
            self.close()
            raise SensorError(f"NVML could not list the GPUs: {err}") from err
        if not gpus:
            self.close()
            raise SensorError("no NVIDIA GPU to measure", fix="see `jouleflow doctor`")
        self._gpus = tuple(gpus)
        self._readers = tuple(_reader(nv, g) for g in gpus)
        return tuple(_domain(g) for g in gpus)

    def read(self) -> tuple[int, ...]:
        return tuple(self._read_one(i) for i in range(len(self._gpus)))

    def read_edges(self) -> tuple[int | None, ...]:
        return tuple(
            self._read_one(i) if gpu.source is _Source.COUNTER else None
            for i, gpu in enumerate(self._gpus)
        )

    def _read_one(self, i: int) -> int:
        try:
            return self._readers[i]()
        except self._nv.NVMLError as err:
            gpu = self._gpus[i]
            raise SensorError(
                f"NVML read of GPU {gpu.index} ({gpu.name}) failed: {err}",
                fix="check the GPU with `nvidia-smi`; a lost GPU needs a reset or a reboot",
            ) from err

    def close(self) -> None:
        nv, self._nv = self._nv, None
        self._gpus, self._readers = (), ()
        if nv is not None:
            with contextlib.suppress(nv.NVMLError):
                nv.nvmlShutdown()


def _driver_version(nv: Any) -> str:
    try:
        return str(nv.nvmlSystemGetDriverVersion())
    except nv.NVMLError:
        return "unknown"
