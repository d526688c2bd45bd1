"""Module commands shared by the dareplane peer and the lslacq server in the transcript tests."""

import threading


def _loop(stop_event: threading.Event, n: int) -> None:
    while not stop_event.wait(0.01):
        pass


def start(n: int = 1):
    stop_event = threading.Event()
    thread = threading.Thread(target=_loop, args=(stop_event, n), daemon=True)
    thread.start()
    return thread, stop_event


def set_value(value=None, label: str = "") -> int:
    return 0


def make_pcommand_map() -> dict:
    return {"START": start, "SET": set_value}
