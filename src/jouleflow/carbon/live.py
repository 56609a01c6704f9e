"""Live grid intensity from the Electricity Maps API: off unless asked for, never required.

``--intensity live`` (or ``live:ZONE`` for an Electricity Maps zone such as ``US-CAL-CISO``)
fetches the zone's last 24 hours (``/v3/carbon-intensity/history``) and integrates the run
against it. The request has a timeout; responses are cached on disk; when the service cannot be
reached the last cached response is used, and without one the shipped table value is, and the
result says which happened. The token comes from ``ELECTRICITYMAPS_TOKEN`` or the config file.
"""

from __future__ import annotations

import ipaddress
import itertools
import json
import os
import statistics
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from jouleflow.carbon.series import IntensitySeries, parse_timestamp

DEFAULT_URL = "https://api.electricitymap.org/v3"
TOKEN_ENV = "ELECTRICITYMAPS_TOKEN"
URL_ENV = "JOULEFLOW_ELECTRICITYMAPS_URL"
DEFAULT_TIMEOUT_S = 5.0
DEFAULT_CACHE_TTL_S = 900.0


@dataclass(frozen=True, slots=True)
class LiveIntensity:
    """What the live lookup gave: a series, or None and why (``note`` says which happened)."""

    zone: str
    series: IntensitySeries | None
    note: str | None
    fetched_at_s: float | None = None
    from_cache: bool = False


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "jouleflow" / "electricitymaps"


def _is_loopback(url: str) -> bool:
    host = urllib.parse.urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ElectricityMaps:
    """A small client for one endpoint of the Electricity Maps API (v3)."""

    def __init__(
        self,
        token: str,
        *,
        base_url: str = DEFAULT_URL,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        cache_dir: Path | None = None,
        cache_ttl_s: float = DEFAULT_CACHE_TTL_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.token = token
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.cache_dir = cache_dir or default_cache_dir()
        self.cache_ttl_s = cache_ttl_s
        self.clock = clock

    def history(self, zone: str) -> LiveIntensity:
        """The zone's recent intensity as a series; never raises for network trouble."""
        cache = self.cache_dir / f"history-{urllib.parse.quote(zone, safe='')}.json"
        cached = self._read_cache(cache)
        now = self.clock()
        if cached is not None and now - cached[0] < self.cache_ttl_s:
            series = self._series(zone, cached[1])
            note = f"Electricity Maps response cached at {_stamp(cached[0])}"
            return LiveIntensity(zone, series, note, cached[0], from_cache=True)
        try:
            body = self._fetch(zone)
            series = self._series(zone, body)
        except _LiveError as err:
            if cached is not None:
                stale: IntensitySeries | None
                try:
                    stale = self._series(zone, cached[1])
                except _LiveError:
                    stale = None
                if stale is not None:
                    note = (
                        f"Electricity Maps unreachable ({err}); used its response cached at "
                        f"{_stamp(cached[0])}"
                    )
                    return LiveIntensity(zone, stale, note, cached[0], from_cache=True)
            return LiveIntensity(zone, None, f"Electricity Maps unreachable ({err})")
        self._write_cache(cache, now, body)
        return LiveIntensity(zone, series, None, now)

    def _fetch(self, zone: str) -> Any:
        import urllib.error  # imported here: only a live lookup pays for http.client and ssl
        import urllib.request

        query = urllib.parse.urlencode({"zone": zone})
        request = urllib.request.Request(
            f"{self.base_url}/carbon-intensity/history?{query}",
            headers={"auth-token": self.token, "User-Agent": "jouleflow"},
        )
        handlers = [urllib.request.ProxyHandler({})] if _is_loopback(self.base_url) else []
        opener = urllib.request.build_opener(*handlers)
        try:
            with opener.open(request, timeout=self.timeout_s) as response:
                raw = response.read()
        except urllib.error.HTTPError as err:
            reason = {
                401: "token rejected",
                403: "token not allowed this zone",
                404: "zone not found",
                429: "rate limited",
            }.get(err.code, "server error")
            raise _LiveError(f"{reason}, HTTP {err.code}") from err
        except urllib.error.URLError as err:
            raise _LiveError(str(err.reason)) from err
        except (TimeoutError, OSError) as err:
            raise _LiveError(f"no answer within {self.timeout_s:g} s: {err}") from err
        try:
            return json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as err:
            raise _LiveError("the answer was not JSON") from err

    def _series(self, zone: str, body: Any) -> IntensitySeries:
        try:
            entries = body["history"]
            points = []
            for entry in entries:
                value = entry.get("carbonIntensity")
                if value is None:
                    continue
                t_s, _ = parse_timestamp(str(entry["datetime"]))
                points.append((t_s, float(value)))
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise _LiveError(f"unexpected answer ({type(err).__name__}: {err})") from err
        points.sort()
        if not points or any(v < 0 for _, v in points):
            raise _LiveError("the answer had no usable intensity")
        times = [t for t, _ in points]
        gaps = [b - a for a, b in itertools.pairwise(times) if b > a]
        step = float(statistics.median(gaps)) if gaps else 3600.0
        kind = next((e.get("emissionFactorType") for e in entries if isinstance(e, dict)), None)
        return IntensitySeries(
            start_s=tuple(times),
            g_per_kwh=tuple(v for _, v in points),
            end_s=times[-1] + step,
            source=f"Electricity Maps, zone {zone}" + (f" ({kind})" if kind else ""),
        )

    @staticmethod
    def _read_cache(path: Path) -> tuple[float, Any] | None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return float(data["fetched_at"]), data["body"]
        except (OSError, ValueError, KeyError, TypeError):
            return None

    @staticmethod
    def _write_cache(path: Path, fetched_at: float, body: Any) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"fetched_at": fetched_at, "body": body}), encoding="utf-8")
            os.replace(tmp, path)
        except OSError:
            pass  # a cache that cannot be written only costs a request next time


class _LiveError(Exception):
    """Why the live lookup gave nothing; turned into a note, never raised to the user."""


def _stamp(t_s: float) -> str:
    return datetime.fromtimestamp(t_s, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
