"""The ``ticket-slo`` command line and what it runs outside the worker: replay, publish, tail, simulate."""
