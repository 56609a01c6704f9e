"""The public surface: exact and sorted, and light to import."""

import subprocess
import sys

import jouleflow
import jouleflow.testing
import jouleflow.torch


def isort_order(name):
    """ruff's RUF022 order: CONSTANTS, then Classes, then everything else."""
    group = 0 if name.isupper() else 1 if name[0].isupper() else 2
    return group, name


def test_all_is_exact_and_sorted():
    for module in (jouleflow, jouleflow.testing, jouleflow.torch):
        names = module.__all__
        assert names == sorted(names, key=isort_order), module.__name__
        assert len(set(names)) == len(names)
        for name in names:
            assert getattr(module, name) is not None, f"{module.__name__}.{name}"


def test_public_names_are_all_exported():
    public = {
        n
        for n in dir(jouleflow)
        if not n.startswith("_") and n[0].isupper() and n != "TYPE_CHECKING"
    }
    assert public <= set(jouleflow.__all__)
    assert callable(jouleflow.track) and jouleflow.Run is not None  # resolved lazily


def test_import_jouleflow_pulls_in_no_heavy_or_optional_module():
    code = (
        "import sys, jouleflow\n"
        "heavy = ('torch', 'rich', 'sqlite3', 'plotly', 'pynvml', 'amdsmi', 'psutil', 'click',"
        " 'numpy', 'jouleflow.tracker', 'jouleflow.records', 'dataclasses')\n"
        "print(','.join(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
