"""Workarounds for faust-streaming faults, each documented where it is defined."""
