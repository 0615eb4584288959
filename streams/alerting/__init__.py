"""The alert bridge: the worker's outputs as one Alertmanager alert per breached ticket."""
