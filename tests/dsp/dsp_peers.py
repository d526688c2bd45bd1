"""Child-process side of test_dsp_multiprocess.py (importable by spawned processes)."""

from __future__ import annotations


def run_filter_node(src_params, coefficients, commands, replies):
    """Build a SosFilter by name in this process, fed by ``src_params``; obey ``commands``."""
    import numpy as np

    from lslacq.core.registry import get_node_type

    node = get_node_type("SosFilter")(name="remote-filt")
    try:
        node.configure(coefficients=np.asarray(coefficients))
        node.input.connect(src_params)
        node.output.configure(protocol="tcp", transfermode="plaindata")
        node.initialize()
        node.start()
        replies.put(("ready", node.output.params.to_dict()))
        while True:
            cmd, arg = commands.get(timeout=60)
            if cmd == "set":
                try:
                    node.params["coefficients"] = np.asarray(arg)
                    replies.put(("ok", None))
                except ValueError as exc:
                    replies.put(("error", str(exc)))
            elif cmd == "quit":
                break
        replies.put(("done", node.error and repr(node.error)))
    finally:
        node.close()
