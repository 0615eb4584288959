"""Reaching Kafka from the tools and the worker: settings, security, clients, topics, group offsets."""
