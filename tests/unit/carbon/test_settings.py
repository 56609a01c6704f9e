"""Where each setting comes from: option, environment, config file found upward, default."""

import pytest

from jouleflow.carbon import resolve_settings
from jouleflow.errors import ConfigError


def pyproject(folder, body):
    (folder / "pyproject.toml").write_text(f'[project]\nname = "x"\n\n[tool.jouleflow]\n{body}\n')


def test_nothing_set_means_no_zone_and_the_local_pue(isolated):
    settings = resolve_settings()
    assert settings.zone is None and settings.region_origin == "not set"
    pue = settings.pue_for(None)
    assert pue.value == 1.0 and "local machine" in pue.source
    assert settings.intensity.kind == "table" and settings.embodied is None


def test_region_precedence_option_then_env_then_config(isolated, monkeypatch):
    pyproject(isolated.parent, 'region = "DE"')
    sub = isolated / "a" / "b"
    sub.mkdir(parents=True)
    monkeypatch.chdir(sub)
    found = resolve_settings()
    assert found.zone.code == "DE"
    assert found.region_origin == f"region in {isolated.parent / 'pyproject.toml'}"
    monkeypatch.setenv("JOULEFLOW_REGION", "US-CA")
    assert resolve_settings().zone.code == "US-CA"
    assert resolve_settings().region_origin == "JOULEFLOW_REGION"
    chosen = resolve_settings(region="fr", cli=True)
    assert chosen.zone.code == "FR" and chosen.region_origin == "--region"
    assert resolve_settings(region="FR").region_origin == "the region argument"
    recorded = resolve_settings(recorded_region=("SE", "the result document"))
    assert recorded.zone.code == "SE" and recorded.region_origin == "the result document"


def test_jouleflow_toml_wins_and_pyproject_without_the_table_is_skipped(isolated):
    (isolated / "pyproject.toml").write_text('[project]\nname = "x"\n')  # no [tool.jouleflow]
    pyproject(isolated.parent, 'region = "DE"')
    (isolated.parent / "jouleflow.toml").write_text('region = "NO"\npue = 1.2\n')
    settings = resolve_settings(cwd=isolated)
    assert settings.zone.code == "NO"
    assert settings.pue_for(settings.zone).value == 1.2
    assert settings.pue_for(settings.zone).source == f"pue in {isolated.parent / 'jouleflow.toml'}"


def test_pue_option_beats_config_and_provider(isolated):
    pyproject(isolated, "pue = 1.3")
    settings = resolve_settings(region="aws:us-east-1", pue=1.05, cli=True)
    assert settings.pue_for(settings.zone).value == 1.05
    assert settings.pue_for(settings.zone).source == "--pue"
    config_only = resolve_settings(region="aws:us-east-1")
    assert config_only.pue_for(config_only.zone).value == 1.3


def test_cloud_regions_get_the_provider_pue(isolated):
    settings = resolve_settings(region="gcp:europe-west1")
    pue = settings.pue_for(settings.zone)
    assert pue.value == 1.1 and pue.year == 2023 and pue.source_id == "google-pue-2023"
    assert "Google fleet figure 2023" in pue.source
    local = resolve_settings(region="FR")
    assert local.pue_for(local.zone).value == 1.0


@pytest.mark.parametrize("bad", [0.9, "abc", float("nan"), 11])
def test_bad_pue(isolated, bad):
    with pytest.raises(ConfigError, match="PUE"):
        resolve_settings(pue=bad)


def test_unknown_region_from_the_environment_names_it(isolated, monkeypatch):
    monkeypatch.setenv("JOULEFLOW_REGION", "Germny")
    with pytest.raises(ConfigError, match=r"closest matches: DE \(Germany\).*JOULEFLOW_REGION"):
        resolve_settings()


def test_intensity_forms(isolated):
    assert resolve_settings(intensity="56").intensity.constant == 56.0
    assert resolve_settings(intensity=0).intensity.constant == 0.0
    with pytest.raises(ConfigError, match="0 or more"):
        resolve_settings(intensity="-1")
    with pytest.raises(ConfigError, match="cannot read"):
        resolve_settings(intensity="no-such.csv")


def test_config_intensity_path_is_relative_to_the_config_file(isolated, monkeypatch):
    (isolated / "data").mkdir()
    (isolated / "data" / "grid.csv").write_text("timestamp,g\n0,1\n60,2\n")
    pyproject(isolated, 'intensity = "data/grid.csv"')
    sub = isolated / "deeper"
    sub.mkdir()
    monkeypatch.chdir(sub)
    settings = resolve_settings()
    assert settings.intensity.kind == "series"
    assert settings.intensity.series.g_per_kwh == (1.0, 2.0)


def test_embodied_defaults_and_overrides(isolated):
    default = resolve_settings(embodied=True).embodied
    assert (default.gpu_kg, default.server_kg, default.life_years) == (150.0, 1000.0, 4.0)
    assert default.gpus is None and default.servers == 1
    assert resolve_settings(embodied="default").embodied == default
    custom = resolve_settings(embodied="gpu=318, life=5, gpus=8, servers=2").embodied
    assert (custom.gpu_kg, custom.life_years, custom.gpus, custom.servers) == (318.0, 5.0, 8, 2)
    assert custom.server_kg == 1000.0
    for bad, what in [
        ("gpu", "bad embodied setting"),
        ("watts=3", "unknown embodied setting"),
        ("gpu=lots", "not a number"),
        ("life=0", "out of range"),
        ("gpus=1.5", "not a whole number"),
    ]:
        with pytest.raises(ConfigError, match=what):
            resolve_settings(embodied=bad)


def test_embodied_from_config_table(isolated):
    (isolated / "jouleflow.toml").write_text("[embodied]\ngpu_kg = 318\n")
    assert resolve_settings().embodied.gpu_kg == 318.0


def test_live_needs_a_token_and_a_zone_it_can_name(isolated, monkeypatch):
    with pytest.raises(ConfigError, match="needs an Electricity Maps API token"):
        resolve_settings(region="FR", intensity="live")
    monkeypatch.setenv("ELECTRICITYMAPS_TOKEN", "t0ken")
    with pytest.raises(ConfigError, match="no region is set"):
        resolve_settings(intensity="live")
    with pytest.raises(ConfigError, match="has no zone named US-CA"):
        resolve_settings(region="US-CA", intensity="live")
    settings = resolve_settings(region="FRA", intensity="live")
    assert settings.intensity.live_zone == "FR" and settings.live.token == "t0ken"
    named = resolve_settings(region="US-CA", intensity="live:US-CAL-CISO")
    assert named.intensity.live_zone == "US-CAL-CISO"
