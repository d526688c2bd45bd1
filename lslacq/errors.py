"""Exception hierarchy of lslacq.

Every error lslacq raises on purpose derives from :class:`LslacqError`, so
applications can catch them all in one place. Messages name the object, the
bad value and the fix.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "BrokenStreamError",
    "GraphError",
    "GraphErrors",
    "LslacqError",
    "NodeStateError",
    "RemoteCallError",
    "StreamClosedError",
    "StreamTimeoutError",
    "make_remote_error",
]


class LslacqError(Exception):
    """Base class of every error raised by lslacq."""


class NodeStateError(LslacqError, RuntimeError):
    """A Node method was called in the wrong lifecycle state.

    For example ``start()`` before ``initialize()``, or ``configure()`` on a
    closed node. The message names the node and the step that is missing.
    """


class StreamClosedError(LslacqError, RuntimeError):
    """A stream was used after ``close()``."""


class BrokenStreamError(LslacqError, RuntimeError):
    """A stream received data it cannot interpret or lost its peer."""


class StreamTimeoutError(LslacqError, TimeoutError):
    """A wait on a stream (connect, poll, send) ran out of time."""


class RemoteCallError(LslacqError, RuntimeError):
    """An exception raised in a remote process by an RPC call.

    Attributes
    ----------
    remote_type : str
        Name of the exception type raised remotely.
    remote_message : str
        The remote exception's message.
    remote_traceback : list of str
        The formatted remote traceback lines.
    """

    def __init__(self, remote_type: str, message: str, remote_traceback=()):
        self.remote_type = remote_type
        self.remote_message = message
        self.remote_traceback = list(remote_traceback)
        text = "".join(self.remote_traceback) or message
        super().__init__(f"{remote_type}: {message}\n--- remote traceback ---\n{text}")

    @property
    def type_str(self) -> str:
        """Same as :attr:`remote_type`, under pyacq's name (``RemoteCallException.type_str``)."""
        return self.remote_type


class GraphError(LslacqError, ValueError):
    """A graph file that cannot be used: the message names the file, the line and the fix.

    Attributes
    ----------
    path : str or None
        The file.
    line : int or None
        1-based line of the offending entry, when it can be found.
    """

    def __init__(self, message: str, path: str | Path | None = None, line: int | None = None):
        self.path = None if path is None else str(path)
        self.line = line
        self.reason = message
        where = f"{self.path}:{line}: " if self.path and line else f"{self.path}: " if self.path else ""
        super().__init__(where + message)


class GraphErrors(GraphError):
    """Several problems of one graph file, found in one pass (``lslacq check`` prints each on its line).

    Attributes
    ----------
    errors : list of GraphError
        Every problem, each with its own path and line; :attr:`path`, :attr:`line` and
        :attr:`reason` are the first one's.
    """

    def __init__(self, errors: list[GraphError]):
        if not errors:
            raise ValueError("GraphErrors needs at least one GraphError")
        flat: list[GraphError] = []
        for error in errors:
            flat.extend(error.errors if isinstance(error, GraphErrors) else [error])
        self.errors = flat
        first = flat[0]
        super().__init__(first.reason, first.path, first.line)
        if len(flat) > 1:  # the message lists them all, one per line
            self.args = ("\n".join(str(e) for e in flat),)

    def __str__(self) -> str:
        return str(self.args[0])


def raise_all(errors: list[GraphError]) -> None:
    """Raise ``errors`` (one GraphError as itself, several as :class:`GraphErrors`); nothing when empty.

    What :mod:`lslacq.graph` calls once it has collected every problem of a file.
    """
    if len(errors) == 1 and not isinstance(errors[0], GraphErrors):
        raise errors[0]
    if errors:
        raise GraphErrors(errors)


_BUILTIN_ERRORS = {
    "AttributeError": AttributeError,
    "KeyError": KeyError,
    "IndexError": IndexError,
    "TypeError": TypeError,
    "ValueError": ValueError,
    "NotImplementedError": NotImplementedError,
    "TimeoutError": TimeoutError,
    "OSError": OSError,
    "ConnectionError": ConnectionError,
    "FileNotFoundError": FileNotFoundError,
    "PermissionError": PermissionError,
}
_remote_error_classes: dict[str, type] = {}


def make_remote_error(remote_type: str, message: str, remote_traceback=()) -> RemoteCallError:
    """Build the local image of an exception raised (or stored) in another process.

    Parameters
    ----------
    remote_type : str
        Name of the remote exception's type.
    message : str
        The remote exception's message (``str(exc)``).
    remote_traceback : sequence of str
        The remote formatted traceback lines, if any.

    Returns
    -------
    RemoteCallError
        For common builtin types the error also derives from the builtin
        (a remote ``ValueError`` is caught by ``except ValueError``).
    """
    base = _BUILTIN_ERRORS.get(remote_type)
    if base is None:
        return RemoteCallError(remote_type, message, remote_traceback)
    cls = _remote_error_classes.get(remote_type)
    if cls is None:
        cls = type(f"Remote{remote_type}", (RemoteCallError, base), {"__str__": RemoteCallError.__str__})
        _remote_error_classes[remote_type] = cls
    return cls(remote_type, message, remote_traceback)
