"""The public surface of jouleflow.carbon: an exact, sorted __all__, every name importable."""

import types

import jouleflow.carbon as carbon


def test_all_is_sorted_and_names_everything_exported():
    assert carbon.__all__ == sorted(carbon.__all__)
    for name in carbon.__all__:
        assert getattr(carbon, name) is not None, name
    exported = {
        name
        for name, value in vars(carbon).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and name != "annotations"
    }
    assert exported == set(carbon.__all__)
