"""The run's wall-clock label, written without importing datetime on the start's path."""

from datetime import datetime, timezone

from jouleflow.host import utc_now_iso


def test_started_at_is_iso_8601_utc_with_milliseconds():
    before = datetime.now(timezone.utc)
    stamp = utc_now_iso()
    after = datetime.now(timezone.utc)
    parsed = datetime.fromisoformat(stamp)
    assert parsed.tzinfo is not None and parsed.utcoffset().total_seconds() == 0
    assert before.replace(microsecond=before.microsecond // 1000 * 1000) <= parsed <= after
    assert len(stamp) == len(before.isoformat(timespec="milliseconds"))
