"""A partition's clock follows its input's publication time until the backlog is drained."""

from __future__ import annotations

from typing import NamedTuple

from hypothesis import given, settings
from hypothesis import strategies as st

from ticket_slo.streams.core.clocks import PartitionCatchUp

WALL = 1_000_000.0


def test_unmeasured_partition_has_no_clock() -> None:
    assert PartitionCatchUp(grace=1).clock(0, WALL) is None


def test_no_backlog_means_wall_time_minus_grace() -> None:
    catch_up = PartitionCatchUp(grace=1)
    catch_up.set_backlog(0, committed=40, end=40, now=WALL)
    assert catch_up.caught_up(0)
    assert catch_up.clock(0, WALL) == WALL - 1


def test_backlog_holds_timers_until_an_event_is_applied_then_follows_its_time() -> None:
    catch_up = PartitionCatchUp(grace=1)
    catch_up.set_backlog(0, committed=10, end=13, now=WALL)
    assert catch_up.clock(0, WALL) is None  # a tick before any backlog event: do not fire
    catch_up.on_event(0, offset=10, timestamp=WALL - 300)
    assert catch_up.clock(0, WALL) == WALL - 301
    catch_up.on_event(0, offset=11, timestamp=WALL - 200)
    assert not catch_up.caught_up(0)
    assert catch_up.clock(0, WALL) == WALL - 201
    catch_up.on_event(0, offset=12, timestamp=WALL - 100)  # the last offset of the backlog
    assert catch_up.caught_up(0)
    assert catch_up.clock(0, WALL) == WALL - 1


def test_input_time_never_runs_ahead_of_wall_time_nor_backwards() -> None:
    catch_up = PartitionCatchUp(grace=0)
    catch_up.set_backlog(0, committed=0, end=5, now=WALL)
    catch_up.on_event(0, offset=0, timestamp=WALL + 60)  # a producer clock ahead of ours
    assert catch_up.clock(0, WALL) == WALL
    catch_up.on_event(0, offset=1, timestamp=WALL - 50)  # an older timestamp later in the log
    assert catch_up.clock(0, WALL + 100) == WALL + 60


def test_partitions_are_independent_and_reset_forgets_all() -> None:
    catch_up = PartitionCatchUp(grace=0)
    catch_up.set_backlog(0, committed=None, end=0, now=WALL)  # never committed, empty: caught up
    catch_up.set_backlog(1, committed=None, end=2, now=WALL)
    assert catch_up.caught_up(0) and not catch_up.caught_up(1)
    catch_up.reset()
    assert not catch_up.knows(0) and catch_up.clock(1, WALL) is None


def test_unknown_committed_offset_is_tentative_until_measured_again_or_an_event_arrives() -> None:
    catch_up = PartitionCatchUp(grace=0)
    catch_up.set_backlog(0, committed=None, end=8, now=WALL)  # the consumer has not read the commit yet
    assert not catch_up.knows(0) and catch_up.clock(0, WALL) is None
    catch_up.set_backlog(0, committed=8, end=8, now=WALL)  # measured again: nothing left to catch up on
    assert catch_up.knows(0) and catch_up.clock(0, WALL) == WALL

    catch_up.set_backlog(1, committed=None, end=8, now=WALL)
    catch_up.on_event(1, offset=5, timestamp=WALL - 10)  # processing really starts at 5
    assert catch_up.knows(1) and not catch_up.caught_up(1)
    catch_up.on_event(1, offset=6, timestamp=WALL - 9)
    catch_up.on_event(1, offset=7, timestamp=WALL - 8)
    assert catch_up.caught_up(1)


def test_an_unknown_start_without_any_event_is_taken_as_caught_up_after_the_patience() -> None:
    catch_up = PartitionCatchUp(grace=0, patience=5)
    catch_up.set_backlog(0, committed=None, end=8, now=WALL)
    catch_up.set_backlog(0, committed=None, end=8, now=WALL + 4)
    assert catch_up.clock(0, WALL + 4) is None
    catch_up.set_backlog(0, committed=None, end=8, now=WALL + 5)
    assert catch_up.knows(0) and catch_up.clock(0, WALL + 5) == WALL + 5


class _Record(NamedTuple):
    offset: int
    timestamp: int | None


_setups = st.sampled_from(["unmeasured", "measured", "tentative", "caught up", "caught up soon"])


@settings(max_examples=300, deadline=None)
@given(setup=_setups, stamps=st.lists(st.one_of(st.none(), st.integers(-5, 3_000_000)), min_size=1, max_size=30),
       first=st.integers(0, 20), gaps=st.lists(st.integers(-3, 4), min_size=30, max_size=30),
       wall=st.floats(0, 4_000, allow_nan=False))
def test_a_batchs_record_clock_answers_as_on_event_then_clock(setup: str, stamps: list[int | None], first: int,
                                                              gaps: list[int], wall: float) -> None:
    """``record_clock`` is the worker's fast path through a catching-up batch: the same clock,
    record by record, and the same state after, as ``on_event`` followed by ``clock``."""
    offsets = [first]
    for gap in gaps[:len(stamps) - 1]:
        offsets.append(max(0, offsets[-1] + gap))  # repeats and steps back happen after a rewind
    records = [_Record(offset, stamp) for offset, stamp in zip(offsets, stamps)]

    def made() -> PartitionCatchUp:
        catch_up = PartitionCatchUp(grace=1.5, patience=5.0)
        if setup == "measured":
            catch_up.set_backlog(3, committed=first, end=first + 40, now=0.0)
        elif setup == "tentative":
            catch_up.set_backlog(3, committed=None, end=25, now=0.0)
        elif setup == "caught up soon":
            catch_up.set_backlog(3, committed=first, end=first + 3, now=0.0)
        elif setup == "caught up":
            catch_up.set_backlog(3, committed=first, end=first, now=0.0)
        return catch_up

    slow, fast = made(), made()
    expected = []
    for record in records:
        seconds = record.timestamp / 1000 if record.timestamp is not None and record.timestamp >= 0 else None
        slow.on_event(3, record.offset, seconds)
        now = slow.clock(3, wall)
        expected.append(wall - 1.5 if now is None else now)
    clock = fast.record_clock(3, wall)
    assert [clock(record) for record in records] == expected
    assert fast.caught_up(3) == slow.caught_up(3) and fast.clock(3, wall) == slow.clock(3, wall)
    assert fast.knows(3) == slow.knows(3)
    assert fast._partitions == slow._partitions  # every field of the state alike
