"""A partition's clock follows its input's publication time until the backlog is drained."""

from __future__ import annotations

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
