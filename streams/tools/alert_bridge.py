"""The ``alert-bridge`` command: its settings and rules from the environment and the policy,
then the bridge until SIGINT or SIGTERM."""

from __future__ import annotations

import signal
from types import FrameType

from ticket_slo.schemas.policy import Policy
from ticket_slo.streams.alerting.bridge import AlertBridge
from ticket_slo.streams.alerting.bridge_settings import BridgeSettings
from ticket_slo.streams.alerting.ticket_alerts import AlertRules
from ticket_slo.streams.kafka.settings import Settings

__all__ = ["run_alert_bridge", "rules_of"]


def rules_of(bridge: BridgeSettings, policy: Policy) -> AlertRules:
    """``last`` means the last ``warn_at`` fraction of the warning's plan in this policy, the
    same policy the worker runs (unknown plans fall back to ``default``, as in the worker)."""
    def last_threshold(plan: str) -> float | None:
        fractions = policy.warn_at(plan)
        return max(fractions) if fractions else None

    return AlertRules(priorities=bridge.priorities, thresholds=bridge.warnings, last_threshold=last_threshold)


def run_alert_bridge(policy: Policy, settings: Settings) -> int:
    bridge_settings = BridgeSettings.from_env()
    bridge = AlertBridge(settings, bridge_settings, rules_of(bridge_settings, policy))

    def stop(signum: int, frame: FrameType | None) -> None:
        bridge.stop.set()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        bridge.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
