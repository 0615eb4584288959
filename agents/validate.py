"""The validating agent: raw bytes from ticket-events in, valid events or dead letters out."""

from __future__ import annotations

import time

import faust

from schemas.validation import InvalidEvent, parse_event
from streams.dead_letters import kafka_dead_letter
from streams.settings import Settings

__all__ = ["register_validator"]


def register_validator(app: faust.App, settings: Settings) -> None:
    names = settings.topics
    events = app.topic(names.events, key_type=bytes, value_type=bytes)
    validated = app.topic(names.validated, key_type=bytes, value_type=bytes)
    dead_letters = app.topic(names.dead_letters, key_type=bytes, value_type=bytes)

    @app.agent(events, name="validate", concurrency=1)
    async def validate(stream: faust.StreamT) -> None:
        async for event in stream.events():
            message = event.message
            try:
                ticket_event = parse_event(message.value, message.key)
            except InvalidEvent as invalid:
                record = kafka_dead_letter(invalid, message.value, message.key, message.topic,
                                           message.partition, message.offset, time.time())
                await dead_letters.send(key=message.key, value=record)
                continue
            await validated.send(key=ticket_event.ticket_id.encode(),
                                 value=ticket_event.model_dump_json().encode())
