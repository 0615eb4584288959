"""Stream buffers survive a second resume (Faust's recovery calls it while records are queued)."""

from __future__ import annotations

from pathlib import Path

from mode.utils.queues import FlowControlEvent, FlowControlQueue

from ticket_slo.agents.metrics import SloMetrics
from ticket_slo.schemas.policy import load_policy
from ticket_slo.agents.app import create_app
from ticket_slo.agents.faust_fixes.flow_control import ResumeOnceFlowControl
from ticket_slo.streams.kafka.settings import Settings


def _queue(flow: FlowControlEvent) -> FlowControlQueue[str]:
    return FlowControlQueue(maxsize=10, flow_control=flow, clear_on_resume=True)


def test_records_queued_while_flowing_survive_another_resume() -> None:
    flow = ResumeOnceFlowControl()
    queue = _queue(flow)
    flow.resume()  # recovery resumes flow to read the changelogs
    queue.put_nowait("ticket-events/0@5")  # the fetcher queues an input record
    flow.resume()  # recovery resumes again after seeking to the committed offsets
    assert flow.is_active()
    assert queue.qsize() == 1
    assert queue.get_nowait() == "ticket-events/0@5"


def test_the_stock_flow_control_loses_that_record() -> None:
    """The behaviour the subclass exists for: if Faust fixes it, this test says so."""
    flow = FlowControlEvent()
    queue = _queue(flow)
    flow.resume()
    queue.put_nowait("ticket-events/0@5")
    flow.resume()
    assert queue.qsize() == 0


def test_resuming_after_a_suspension_still_clears_stale_records() -> None:
    flow = ResumeOnceFlowControl()
    queue = _queue(flow)
    flow.resume()
    queue.put_nowait("fetched before the rebalance")
    flow.suspend()  # a rebalance starts
    assert not flow.is_active()
    flow.resume()
    assert flow.is_active()
    assert queue.qsize() == 0


def test_the_app_uses_it(tmp_path: Path) -> None:
    settings = Settings.from_env({"TICKET_SLO_DATA_DIR": str(tmp_path)})
    policy = load_policy()
    app = create_app(settings, policy, SloMetrics(policy.all_targets()))
    assert isinstance(app.flow_control, ResumeOnceFlowControl)
