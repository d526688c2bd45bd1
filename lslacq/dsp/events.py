"""The event stream format: moved to :mod:`lslacq.core.stream.events` (this import path keeps working)."""

from ..core.stream.events import (  # noqa: F401
    EVENT_DTYPE,
    EVENT_STREAM_SPEC,
    as_event_indexes,
    event_labels,
    is_event_dtype,
    make_events,
)

__all__ = ["EVENT_DTYPE", "EVENT_STREAM_SPEC", "make_events", "as_event_indexes", "event_labels", "is_event_dtype"]
