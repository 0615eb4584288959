"""The SLO engine and the stream topology around it."""
