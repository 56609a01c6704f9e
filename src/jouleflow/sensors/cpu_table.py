"""Which CPU this is, and its TDP: ``/proc/cpuinfo`` and the shipped ``cpu_tdp`` table.

Kept apart from the estimators because it is a lookup, not a model: parsing cpuinfo, normalising
vendor names and matching them against the 4,900-row table (built by scripts/build_tables.py;
provenance in data/PROVENANCE.md).
"""

from __future__ import annotations

import csv
import functools
import io
import os
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

TABLE = "cpu_tdp"
_MHZ = re.compile(r"@?\s*\d+(?:\.\d+)?\s*[gm]hz\b")
_NOISE = re.compile(
    r"\((?:r|tm|c)\)|\b\d+-core\b|\b\d+(?:st|nd|rd|th) gen(?:eration)?\b|\bcpu\b|\bprocessor\b"
)
_VENDORS = ("intel", "amd", "apple")
_VERSION = re.compile(r"^v\d+$")


# --- /proc/cpuinfo ---------------------------------------------------------------------------
def _cpuinfo(proc_root: str | os.PathLike[str]) -> list[dict[str, str]]:
    """One dict per logical CPU; empty when unreadable (macOS, restricted containers)."""
    try:
        text = (Path(proc_root) / "cpuinfo").read_text(errors="replace")
    except OSError:
        return []
    blocks: list[dict[str, str]] = []
    for chunk in text.split("\n\n"):
        fields = {}
        for line in chunk.splitlines():
            key, sep, value = line.partition(":")
            if sep:
                fields[key.strip()] = value.strip()
        if fields:
            blocks.append(fields)
    return blocks


def read_cpu_model(proc_root: str | os.PathLike[str] = "/proc") -> str | None:
    """The ``model name`` of the first CPU, or None (aarch64 kernels do not state one)."""
    for block in _cpuinfo(proc_root):
        if block.get("model name"):
            return block["model name"]
    return None


def read_socket_count(proc_root: str | os.PathLike[str] = "/proc") -> int:
    """Distinct ``physical id`` values, 1 when the kernel does not state them."""
    return len({b["physical id"] for b in _cpuinfo(proc_root) if "physical id" in b}) or 1


def read_core_count(proc_root: str | os.PathLike[str] = "/proc") -> int:
    """Physical cores: distinct (physical id, core id), else psutil's count, else logical CPUs."""
    blocks = _cpuinfo(proc_root)
    pairs = {(b.get("physical id"), b["core id"]) for b in blocks if "core id" in b}
    if pairs:
        return len(pairs)
    import psutil  # lazily: ~10 ms of import, needed only when estimating

    return int(psutil.cpu_count(logical=False) or len(blocks) or os.cpu_count() or 1)


# --- the TDP table ---------------------------------------------------------------------------
def normalise_cpu_name(name: str) -> str:
    """Lower case, no trademarks, frequencies, core counts, generation, "CPU" or "Processor"."""
    text = re.sub("[®™©\u200b\u200c\u200d\ufeff]", " ", name)
    text = unicodedata.normalize("NFKC", text).casefold()
    text = re.sub(r"\bwith radeon\b.*$", " ", _MHZ.sub(" ", text))
    text = _NOISE.sub(" ", text)
    return " ".join(text.replace(",", " ").split())


def _model_key(normalised: str) -> str | None:
    """The model-number token ('6248', 'i7-8700k', 'e5-2686 v4'), None if there is none."""
    tokens = [t.strip("()") for t in normalised.split()]
    for i, token in enumerate(tokens):
        if len(token) >= 3 and any(c.isdigit() for c in token) and not _VERSION.match(token):
            following = tokens[i + 1] if i + 1 < len(tokens) else ""
            return f"{token} {following}" if _VERSION.match(following) else token
    return None


def _vendor(normalised: str) -> str | None:
    return next((w for w in normalised.split() if w in _VENDORS), None)


@dataclass(frozen=True, slots=True)
class _Entry:
    name: str
    normalised: str
    tdp_w: float


@dataclass(frozen=True, slots=True)
class _Table:
    exact: Mapping[str, _Entry]
    by_key: Mapping[str, tuple[_Entry, ...]]


@functools.lru_cache(maxsize=1)
def _rows() -> tuple[dict[str, str], ...]:
    from importlib import resources

    text = resources.files("jouleflow").joinpath("data").joinpath("cpu_tdp.csv").read_text("utf-8")
    return tuple(row for row in csv.DictReader(io.StringIO(text)) if row["unit"] == "W")


@functools.lru_cache(maxsize=8)
def _table(token: str | None = None) -> _Table:
    """The shipped table, parsed on first use (importing this module stays cheap).

    With ``token`` (a model number such as "6248", or the query's longest word), only rows whose
    name contains it are normalised: any match must contain it, and normalising all 4,900 rows
    costs ~100 ms of a run's start.
    """
    exact: dict[str, _Entry] = {}
    by_key: dict[str, list[_Entry]] = {}
    for row in _rows():
        if token is not None and token not in row["model"].casefold():
            continue
        normalised = normalise_cpu_name(row["model"])
        entry = _Entry(row["model"], normalised, float(row["tdp_w"]))
        previous = exact.get(normalised)
        if previous is None or entry.tdp_w > previous.tdp_w:
            exact[normalised] = entry
        key = _model_key(normalised)
        if key is not None:
            by_key.setdefault(key, []).append(entry)
    return _Table(exact, {k: tuple(v) for k, v in by_key.items()})


def _rarest_word(query: str) -> str | None:
    names = [row["model"].casefold() for row in _rows()]
    words = query.split()
    return min(words, key=lambda w: sum(w in n for n in names)) if words else None


def lookup_tdp(model_name: str) -> tuple[float, str] | None:
    """``(tdp_w, matched table name)`` per socket, or None when the model is not in the table.

    Exact match of the normalised names first; then entries sharing the model-number token, of a
    compatible vendor, the one sharing most words with the query. A tie between different TDPs is
    no match: the caller falls back to the generic figure rather than guess.
    """
    query = normalise_cpu_name(model_name)
    key = _model_key(query)
    # Every word of a normalised name appears in the raw name: filter on the most telling one.
    token = key.split()[0] if key is not None else _rarest_word(query)
    table = _table(token)
    if query in table.exact:
        entry = table.exact[query]
        return entry.tdp_w, entry.name
    if key is None:
        return None
    vendor = _vendor(query)
    words = set(query.split())
    scored: list[tuple[float, _Entry]] = []
    for entry in table.by_key.get(key, ()):
        other = _vendor(entry.normalised)
        if vendor is not None and other is not None and other != vendor:
            continue
        theirs = set(entry.normalised.split())
        scored.append((len(words & theirs) / len(words | theirs), entry))
    if not scored:
        return None
    best = max(score for score, _ in scored)
    winners = sorted((e for s, e in scored if s == best), key=lambda e: e.name)
    if len({e.tdp_w for e in winners}) > 1:
        return None
    return winners[0].tdp_w, winners[0].name
