"""The validating agent: raw bytes from ticket-events in, valid events or dead letters out."""

from __future__ import annotations

from datetime import datetime, timezone

import faust

from schemas.outputs import DeadLetter
from schemas.validation import InvalidEvent, parse_event
from agents.progress import ProgressLog
from streams.settings import Settings

__all__ = ["register_validator"]


def register_validator(app: faust.App, settings: Settings, progress: ProgressLog) -> None:
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
                letter = DeadLetter.of(
                    invalid.reason, invalid.detail, message.value, message.key,
                    datetime.now(timezone.utc),
                    topic=message.topic, partition=message.partition, offset=message.offset,
                )
                await dead_letters.send(key=message.key, value=letter.model_dump_json().encode())
                progress.add(f"dead-lettered ({invalid.reason})")
                continue
            await validated.send(key=ticket_event.ticket_id.encode(),
                                 value=ticket_event.model_dump_json().encode())
            progress.add("valid")
