"""ServedModule: what every lslacq dareplane module shares (its server, STATUS as one JSON line, serve and close)."""

from __future__ import annotations

import json
import threading
from typing import Any

from .server import DefaultServer

__all__ = ["ServedModule"]


class ServedModule:
    """Base of the dareplane modules lslacq ships (GraphModule, RecorderModule).

    A subclass sets :attr:`server` and writes :meth:`status_dict` and
    :meth:`_finish` (what ``close()`` stops after the server: a graph, a
    recording). Used as a context manager it serves in a background thread.
    """

    server: DefaultServer

    def status_dict(self) -> dict[str, Any]:
        """Return what STATUS replies (plain values)."""
        raise NotImplementedError(f"{type(self).__name__} must implement status_dict()")

    def status(self) -> int:
        """STATUS: reply one JSON line describing the module."""
        self.server.reply(json.dumps(self.status_dict(), default=str) + "\n")
        return 0

    def serve(self) -> None:
        """Listen until CLOSE (blocking); then :meth:`close`."""
        if self.server.server_socket is None:
            self.server.init_server()
        try:
            self.server.start_listening()
        finally:
            self.close()

    def start_in_thread(self) -> threading.Thread:
        """Serve in a background thread (tests, embedding); stop with :meth:`close`."""
        return self.server.start_in_thread()

    def close(self) -> None:
        """Stop the server (if serving), then what the module runs (:meth:`_finish`)."""
        self.server.shutdown()
        self._finish()

    def _finish(self) -> None:
        """Stop what the module runs (subclasses)."""

    def __enter__(self):
        self.start_in_thread()
        return self

    def __exit__(self, *exc) -> None:
        self.close()
