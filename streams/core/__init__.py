"""The pure SLO engine: apply an event, advance a clock, get outputs back. No I/O, no wall clock."""
