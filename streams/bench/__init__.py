"""``ticket-slo bench``: the broker, a raw Python passthrough and the pipeline, measured side by side.

One module per job: ``plan`` (sizes of a run), ``lifecycle`` (the events),
``processes`` (child processes, /proc readings), ``cpu`` (who used the cores),
``kafka_io`` (preload, lag, raw reads), ``kafka_tools`` (Kafka's own tools: the broker
script of a checkout, and the perf tools),
``passthrough`` (the raw aiokafka baseline), ``context`` (what the phases share),
``phases`` and ``breaches`` (the measurements), ``report`` (goals, table),
``runner`` (the order of it all, the broker, clean-up) and ``command`` (the
command-line entry). Only ``command`` is imported by the CLI at start-up; the rest
loads when the benchmark runs.
"""
