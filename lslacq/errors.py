"""Exception hierarchy of lslacq.

Every error lslacq raises on purpose derives from :class:`LslacqError`, so
applications can catch them all in one place. Messages name the object, the
bad value and the fix.
"""

from __future__ import annotations

__all__ = [
    "LslacqError",
    "NodeStateError",
    "StreamClosedError",
    "BrokenStreamError",
    "StreamTimeoutError",
    "RemoteCallError",
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
    remote_traceback : list of str
        The formatted remote traceback lines.
    """

    def __init__(self, remote_type: str, message: str, remote_traceback=()):
        self.remote_type = remote_type
        self.remote_traceback = list(remote_traceback)
        text = "".join(self.remote_traceback) or message
        super().__init__(f"{remote_type}: {message}\n--- remote traceback ---\n{text}")

    @property
    def type_str(self) -> str:
        """pyacq's name for :attr:`remote_type` (``RemoteCallException.type_str``)."""
        return self.remote_type
