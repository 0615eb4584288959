"""Output timestamps are written by pydantic itself; they must keep ``format_utc``'s one spelling
(``Z``, microseconds only when non-zero), whatever offset they were given in, at any instant."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from hypothesis import example, given, settings
from hypothesis import strategies as st

from ticket_slo.schemas.outputs import SloBreached, format_utc

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _breach(detected_at: datetime) -> SloBreached:
    return SloBreached(breach_id="b", ticket_id="T-1", objective="first_response", priority="P1", plan="default",
                       customer_id="c", started_at=EPOCH, deadline=EPOCH + timedelta(minutes=30),
                       target_seconds=1800.0, detected_at=detected_at)


@settings(max_examples=500, deadline=None)
@given(micros=st.integers(0, 220_000_000_000_000_000), whole=st.sampled_from([1, 1_000, 1_000_000]),
       offset=st.integers(-(23 * 60 + 59), 23 * 60 + 59))
@example(micros=0, whole=1, offset=0)
@example(micros=1_714_557_000_123_456, whole=1, offset=-300)
def test_each_output_timestamp_is_format_utcs_spelling(micros: int, whole: int, offset: int) -> None:
    instant = EPOCH + timedelta(microseconds=micros - micros % whole)
    given_in = instant.astimezone(timezone(timedelta(minutes=offset)))
    written = json.loads(_breach(given_in).model_dump_json())["detected_at"]
    assert written == format_utc(instant)
    assert written.endswith("Z") and ("." in written) == (instant.microsecond != 0)


def test_the_spelling_by_hand() -> None:
    written = json.loads(_breach(datetime(2024, 5, 1, 11, 30, 0, 500, tzinfo=timezone(timedelta(hours=2))))
                         .model_dump_json())
    assert (written["started_at"], written["deadline"], written["detected_at"]) == (
        "1970-01-01T00:00:00Z", "1970-01-01T00:30:00Z", "2024-05-01T09:30:00.000500Z")
