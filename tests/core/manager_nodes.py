"""A custom Node type registered by name in remote nodegroups (manual 3.4)."""

from lslacq.core import Node


class PidNode(Node):
    """A node without streams that reports the process it lives in."""

    _input_specs: dict = {}
    _output_specs: dict = {}

    def _configure(self, factor=1):
        self.factor = factor

    def pid_times_factor(self):
        import os

        return os.getpid() * self.factor

    def fail_in_thread(self, message="amplifier disconnected"):
        """Report a failure from a background thread, as a device's read loop would."""
        import threading

        def work():
            try:
                raise RuntimeError(message)
            except RuntimeError as exc:
                self._report_error(exc, context="reading the amplifier")

        thread = threading.Thread(target=work)
        thread.start()
        thread.join(10)
