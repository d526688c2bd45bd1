"""Finding LSL streams: by name, type, source_id or an XPath predicate, with a timeout.

pylsl's resolvers wait forever by default and return an empty list on
timeout; these helpers always take a timeout and, when nothing matches, raise
:class:`lslacq.errors.StreamTimeoutError` naming what was searched for and
listing the streams that *are* visible, which is what a user needs to fix a
typo in a stream name.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

import pylsl

from lslacq.errors import StreamTimeoutError

from ._pylsl import LslTimeoutError
from .metadata import StreamDescription, describe_stream

__all__ = ["build_predicate", "list_streams", "resolve_stream", "resolve_streams"]

logger = logging.getLogger(__name__)

#: outlets asked for their full description at once by list_streams(full=True)
_MAX_DESCRIPTION_FETCHES = 32

_PROPERTIES = ("name", "type", "source_id", "hostname", "uid", "session_id")


def _xpath_literal(value: str) -> str:
    """Quote ``value`` as an XPath 1.0 string literal."""
    value = str(value)
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    parts = value.split("'")
    return "concat(" + ', "\'", '.join(f"'{p}'" for p in parts) + ")"


def build_predicate(
    name: str | None = None,
    type: str | None = None,
    source_id: str | None = None,
    predicate: str | None = None,
    **properties: str,
) -> str:
    """Combine stream properties and an optional XPath predicate into one predicate.

    Parameters
    ----------
    name, type, source_id : str, optional
        Exact values the stream info must have.
    predicate : str, optional
        An extra XPath 1.0 predicate over the stream info, e.g.
        ``"starts-with(name,'EEG')"`` or ``"desc/acquisition/manufacturer='X'"``.
    **properties : str
        Further exact properties (``hostname``, ``uid``, ``session_id``, or any
        path such as ``channel_count``).

    Returns
    -------
    str
        The predicate (``''`` matches every stream).
    """
    clauses = []
    for key, value in (("name", name), ("type", type), ("source_id", source_id), *properties.items()):
        if value is not None:
            clauses.append(f"{key}={_xpath_literal(value)}")
    if predicate:
        clauses.append(f"({predicate})")
    return " and ".join(clauses)


def _describe_query(predicate: str) -> str:
    return f"predicate {predicate!r}" if predicate else "any stream"


def list_streams(wait_time: float = 1.0, full: bool = False, timeout: float = 2.0) -> list[StreamDescription]:
    """Return the LSL streams visible from this host, sorted by name.

    Parameters
    ----------
    wait_time : float
        How long to listen for answers, in seconds (less than 0.5 s may miss
        streams on other hosts).
    full : bool
        Also fetch each stream's full description (channel labels, units,
        types, acquisition), which needs a connection to every outlet.
        Without it, channel names are the ``ch_1``... placeholders.
    timeout : float
        Seconds to wait for the full descriptions (``full=True`` only). They
        are fetched from all outlets at once, so an outlet that closed after
        it answered the resolve (or hangs) costs ``timeout`` once, not once
        per stream; such a stream keeps its short description.
    """
    infos = pylsl.resolve_streams(wait_time=wait_time)
    if full and infos:
        with ThreadPoolExecutor(min(len(infos), _MAX_DESCRIPTION_FETCHES), "lsl-describe") as pool:
            infos = list(pool.map(lambda info: _full_info(info, timeout), infos))
    return sorted((describe_stream(i) for i in infos), key=lambda d: (d.name, d.source_id))


def _full_info(info: pylsl.StreamInfo, timeout: float) -> pylsl.StreamInfo:
    """Return the full info of a resolved stream (its short info if its outlet does not answer in time).

    An outlet that closed after the resolve may have left its port to another one: what answers there is
    then another stream (another uid), whose description is not this stream's.
    """
    inlet = pylsl.StreamInlet(info)
    try:
        full = inlet.info(timeout=timeout)
        if full.uid() != info.uid():
            logger.warning(
                "LSL stream %r closed since it answered the resolve: its address now serves %r; listing its "
                "short description",
                info.name(),
                full.name(),
            )
            return info
        return full
    except LslTimeoutError:
        logger.warning(
            "LSL stream %r did not send its description within %g s (its outlet may have closed since it answered "
            "the resolve); listing its short description",
            info.name(),
            timeout,
        )
        return info
    finally:
        del inlet


def resolve_streams(
    name: str | None = None,
    type: str | None = None,
    source_id: str | None = None,
    predicate: str | None = None,
    timeout: float = 5.0,
    minimum: int = 1,
    **properties: str,
) -> list[pylsl.StreamInfo]:
    """Return the stream infos matching the query, waiting up to ``timeout`` s.

    Raises
    ------
    StreamTimeoutError
        If fewer than ``minimum`` streams matched within ``timeout``; the
        message lists the streams that are visible.
    """
    if timeout is None or timeout < 0:
        raise ValueError(f"timeout must be a number of seconds >= 0, got {timeout!r}")
    query = build_predicate(name, type, source_id, predicate, **properties)
    if query:
        found = pylsl.resolve_bypred(query, minimum=minimum, timeout=timeout)
    else:
        found = pylsl.resolve_streams(wait_time=max(timeout, 0.5))
    if len(found) < minimum:
        visible = list_streams(wait_time=1.0)  # an error path: take the time to list them all
        listing = "; ".join(d.summary() for d in visible) or "none"
        raise StreamTimeoutError(
            f"no LSL stream matching {_describe_query(query)} appeared within {timeout:g} s "
            f"(visible streams: {listing}). Check that the outlet is running, that the name/type/"
            "source_id are spelled as published, and that both hosts share a network (lsl_api.cfg)."
        )
    return found


def resolve_stream(
    name: str | None = None,
    type: str | None = None,
    source_id: str | None = None,
    predicate: str | None = None,
    timeout: float = 5.0,
    **properties: str,
) -> pylsl.StreamInfo:
    """Return one stream info matching the query.

    When several streams match, the most recently created one is chosen and
    a warning names the others (give ``source_id`` to be unambiguous).

    Raises
    ------
    StreamTimeoutError
        If nothing matched within ``timeout`` seconds.
    """
    found = resolve_streams(name, type, source_id, predicate, timeout, **properties)
    if len(found) > 1:
        found = sorted(found, key=lambda i: i.created_at(), reverse=True)
        logger.warning(
            "%d LSL streams match %s; using the newest (%s). Others: %s. Pass source_id to choose.",
            len(found),
            _describe_query(build_predicate(name, type, source_id, predicate, **properties)),
            describe_stream(found[0]).summary(),
            "; ".join(describe_stream(i).summary() for i in found[1:]),
        )
    return found[0]


def query_from_identifier(identifier: Mapping | str | None, default_name: str = "") -> dict:
    """Turn a dareplane-style identifier (dict or name) into resolve_stream keywords."""
    if identifier is None:
        return {"name": default_name} if default_name else {}
    if isinstance(identifier, str):
        return {"name": identifier}
    if not isinstance(identifier, Mapping):
        raise TypeError(f"identifier must be a dict such as {{'name': 'EEG'}} or a stream name, got {identifier!r}")
    return {str(key): str(value) for key, value in identifier.items()}
