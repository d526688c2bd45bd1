"""Objects used by the RPC tests inside spawned processes (importable by name there)."""

import os
import time


def call(func, *args, **kwargs):
    """Call ``func`` (typically a proxy to a third process) and return the result."""
    return func(*args, **kwargs)


def getpid():
    return os.getpid()


def sleep_and_return(seconds, value):
    time.sleep(seconds)
    return value


class Counter:
    def __init__(self):
        self.count = 0
        self.callbacks = []

    def add(self, n=1):
        self.count += n
        return self.count

    def call_back(self, callback, *args):
        """Call a proxy to an object of the caller (reentrant call)."""
        return callback(*args)

    def fail(self, message):
        raise ValueError(message)


def crash(code=7):
    os._exit(code)


def print_and_log(text):
    import logging
    import sys

    print(text)  # noqa: T201 (the child's stdout is what the test checks)
    sys.stderr.write("stderr: " + text + "\n")
    logging.getLogger("rpc_helpers").warning("logged: %s", text)
    return True


def raise_uncaught_in_thread(text):
    import threading

    def boom():
        raise RuntimeError(text)

    t = threading.Thread(target=boom)
    t.start()
    t.join()
    return True


def spawn_grandchild(queue):
    """Run in a multiprocessing 'spawn' child: start a ProcessSpawner there and report its pid."""
    from lslacq.core.rpc import ProcessSpawner

    try:
        with ProcessSpawner(name="grandchild") as proc:
            queue.put(("ok", proc.client._import("os").getpid(), proc.pid))
    except Exception as exc:  # pragma: no cover - reported to the test
        queue.put(("error", repr(exc), None))
