"""Future: the pending result of an asynchronous remote call."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["Future"]

_PENDING, _DONE, _CANCELLED = 0, 1, 2
_cond_lock = threading.Lock()


class Future:
    """Return value of a remote call that has not arrived yet.

    Returned by proxy calls made with ``_sync='async'`` (and by
    ``RPCClient.send(..., sync='async')``). Modelled on
    :class:`concurrent.futures.Future`.

    Parameters
    ----------
    client : RPCClient
        The client that sent the request and will receive the reply.
    call_id : int
        The request id.
    """

    __slots__ = ("_client", "call_id", "action", "_state", "_result", "_exception", "_cond", "_callbacks")

    def __init__(self, client, call_id: int, action: str = ""):
        self._client = client
        self.call_id = call_id
        self.action = action
        self._state = _PENDING
        self._result = None
        self._exception: BaseException | None = None
        self._cond: threading.Condition | None = None
        self._callbacks: list | None = None

    def __repr__(self) -> str:
        state = {_PENDING: "pending", _DONE: "done", _CANCELLED: "cancelled"}[self._state]
        return f"<Future {self.action} [{self.call_id}] {state}>"

    # -- consumer API ------------------------------------------------------
    def done(self) -> bool:
        """Return True once the result (or an error) has arrived or the future was cancelled."""
        if not self._state:
            self._client.process()
        return bool(self._state)

    hasResult = done  # pyacq spelling used in its manual

    def cancelled(self) -> bool:
        """Return True if the future was cancelled."""
        return self._state == _CANCELLED

    def running(self) -> bool:
        """Return True while the request is pending (it may be executing remotely)."""
        return not self._state

    def cancel(self) -> bool:
        """Stop waiting for the reply; return False if it already arrived.

        The remote call cannot be interrupted; its reply will be discarded.
        """
        if self._state:
            return self._state == _CANCELLED
        self._client._futures.pop(self.call_id, None)
        self._finish(_CANCELLED)
        return True

    def result(self, timeout: float | None = None) -> Any:
        """Return the result, waiting up to ``timeout`` seconds (None: forever).

        Raises
        ------
        RemoteCallError
            The remote call raised; the error carries the remote traceback.
        TimeoutError
            No reply within ``timeout``.
        concurrent.futures.CancelledError
            The future was cancelled.
        """
        if not self._state:
            self._wait(timeout)
        if self._state == _CANCELLED:
            from concurrent.futures import CancelledError

            raise CancelledError(f"{self!r} was cancelled")
        if self._exception is not None:
            raise self._exception
        return self._result

    def exception(self, timeout: float | None = None) -> BaseException | None:
        """Return the exception of the call (None if it succeeded)."""
        if not self._state:
            self._wait(timeout)
        return self._exception

    def add_done_callback(self, fn: Callable[[Future], Any]) -> None:
        """Call ``fn(future)`` when the future completes (in the thread that reads the reply)."""
        if self._state:
            fn(self)
            return
        if self._callbacks is None:
            self._callbacks = []
        self._callbacks.append(fn)

    def _wait(self, timeout: float | None) -> None:
        client = self._client
        if threading.get_ident() == client._thread and not client._closed:
            client.process_until_future(self, timeout)
            if not self._state:
                raise TimeoutError(f"no reply from {client.address} to {self.action!r} within {timeout} s")
            return
        # another thread owns the socket: wait for it to deliver the reply
        with _cond_lock:
            if self._cond is None:
                self._cond = threading.Condition(threading.Lock())
            cond = self._cond
        deadline = None if timeout is None else time.monotonic() + timeout
        with cond:
            while not self._state:
                remaining = 0.05 if deadline is None else min(0.05, deadline - time.monotonic())
                if remaining <= 0:
                    raise TimeoutError(f"no reply from {client.address} to {self.action!r} within {timeout} s")
                cond.wait(remaining)

    # -- producer API (used by RPCClient) ----------------------------------
    def _set_result(self, value) -> None:
        self._result = value
        self._finish(_DONE)

    def _set_exception(self, exc: BaseException) -> None:
        self._exception = exc
        self._finish(_DONE)

    def _finish(self, state: int) -> None:
        self._state = state
        cond = self._cond
        if cond is not None:
            with cond:
                cond.notify_all()
        callbacks, self._callbacks = self._callbacks, None
        if callbacks:
            for fn in callbacks:
                try:
                    fn(self)
                except Exception:
                    import logging

                    logging.getLogger(__name__).exception("Future callback %r failed", fn)
