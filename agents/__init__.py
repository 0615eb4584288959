"""The live worker: the Faust app, its agents and timers, metrics, and the faust-streaming workarounds.

The only package of ticket-slo that imports Faust. Nothing is imported here, so that the
command line (``ticket_slo.agents.cli``) starts without loading Faust unless it runs a worker.
"""
