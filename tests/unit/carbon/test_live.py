"""The Electricity Maps client against a stub server on 127.0.0.1: answers, cache, fallbacks."""

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from jouleflow.carbon import ElectricityMaps, assess

HISTORY = {
    "zone": "FR",
    "history": [
        {
            "zone": "FR",
            "carbonIntensity": 20 + h,
            "datetime": f"2024-05-01T{h:02d}:00:00.000Z",
            "emissionFactorType": "lifecycle",
            "isEstimated": False,
        }
        for h in range(24)
    ],
}


class Stub:
    def __init__(self):
        self.requests = []
        self.status = 200
        self.body = HISTORY
        self.delay_s = 0.0
        self.url = ""


@pytest.fixture
def stub():
    state = Stub()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            state.requests.append((self.path, self.headers.get("auth-token")))
            if state.delay_s:
                time.sleep(state.delay_s)
            body = state.body if isinstance(state.body, bytes) else json.dumps(state.body).encode()
            try:
                self.send_response(state.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except OSError:
                pass  # the client gave up (timeout test)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/v3"
    yield state
    server.shutdown()
    server.server_close()
    thread.join()


def client(stub, tmp_path, **kwargs):
    return ElectricityMaps("s3cret", base_url=stub.url, cache_dir=tmp_path / "cache", **kwargs)


def test_fetches_the_history_with_the_token(stub, tmp_path):
    live = client(stub, tmp_path).history("FR")
    assert stub.requests == [("/v3/carbon-intensity/history?zone=FR", "s3cret")]
    assert live.note is None and not live.from_cache
    series = live.series
    assert series.g_per_kwh[:3] == (20.0, 21.0, 22.0) and len(series.start_s) == 24
    assert series.end_s - series.start_s[-1] == 3600.0
    assert series.source == "Electricity Maps, zone FR (lifecycle)"
    assert (tmp_path / "cache" / "history-FR.json").is_file()


def test_answers_are_cached_for_the_ttl(stub, tmp_path):
    now = [1000.0]
    maps = client(stub, tmp_path, cache_ttl_s=60, clock=lambda: now[0])
    maps.history("FR")
    now[0] += 30
    cached = maps.history("FR")
    assert len(stub.requests) == 1 and cached.from_cache and "cached at" in cached.note
    now[0] += 60
    assert not maps.history("FR").from_cache and len(stub.requests) == 2


def test_unreachable_uses_the_stale_cache_and_says_so(stub, tmp_path):
    now = [1000.0]
    client(stub, tmp_path, clock=lambda: now[0]).history("FR")
    stub.status, stub.body = 503, {"error": "down"}
    now[0] += 10_000
    stale = client(stub, tmp_path, clock=lambda: now[0]).history("FR")
    assert stale.series is not None and stale.from_cache
    assert stale.note.startswith("Electricity Maps unreachable (server error, HTTP 503)")


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (401, {"error": "bad token"}, "token rejected, HTTP 401"),
        (429, {}, "rate limited, HTTP 429"),
        (200, b"<html>not json", "the answer was not JSON"),
        (200, {"history": [{"carbonIntensity": 1}]}, "unexpected answer"),
        (200, {"history": []}, "no usable intensity"),
    ],
)
def test_bad_answers_give_no_series_and_a_reason(stub, tmp_path, status, body, reason):
    stub.status, stub.body = status, body
    live = client(stub, tmp_path).history("FR")
    assert live.series is None and reason in live.note


def test_timeout(stub, tmp_path):
    stub.delay_s = 0.5
    started = time.monotonic()
    live = client(stub, tmp_path, timeout_s=0.1).history("FR")
    assert time.monotonic() - started < 0.45
    assert live.series is None and "Electricity Maps unreachable" in live.note


@pytest.fixture
def live_env(isolated, monkeypatch, tmp_path):
    monkeypatch.setenv("ELECTRICITYMAPS_TOKEN", "s3cret")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return monkeypatch


def test_assess_integrates_the_run_against_live_data(stub, live_env, result_of):
    live_env.setenv("JOULEFLOW_ELECTRICITYMAPS_URL", stub.url)
    carbon = assess(result_of(3_600_000), region="FR", intensity="live")  # 13:30-14:30 UTC
    assert carbon.intensity.kind == "live" and carbon.operational_g == pytest.approx(33.5)
    assert carbon.intensity.source == "Electricity Maps, zone FR (lifecycle)"
    assert carbon.notes == ()
    assert stub.requests == [("/v3/carbon-intensity/history?zone=FR", "s3cret")]


def test_assess_offline_falls_back_to_the_table(live_env, result_of):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    live_env.setenv("JOULEFLOW_ELECTRICITYMAPS_URL", f"http://127.0.0.1:{port}/v3")
    carbon = assess(result_of(3_600_000), region="FR", intensity="live")
    assert carbon.intensity.kind == "table" and carbon.operational_g == pytest.approx(41.44)
    assert carbon.notes[0].startswith("Electricity Maps unreachable (")
    assert carbon.notes[1] == "used the shipped table value instead"


def test_live_data_that_misses_the_run_falls_back_to_the_table(stub, live_env, result_of):
    live_env.setenv("JOULEFLOW_ELECTRICITYMAPS_URL", stub.url)
    old = result_of(3_600_000, started_at="2023-01-01T00:00:00+00:00")
    carbon = assess(old, region="FR", intensity="live")
    assert carbon.intensity.kind == "table"
    assert "does not cover the run: used the shipped table value" in carbon.notes[0]
