"""Send log records with dareplane-utils' UJsonSocketHandler to 127.0.0.1:<argv[1]>, then exit.

Prints ``PORT 0`` first so the test harness can treat it like the other peers.
"""

import logging
import logging.handlers
import sys

from dareplane_utils.logging.ujson_socket_handler import UJsonSocketHandler

print("PORT 0", flush=True)  # noqa: T201 (the harness reads the peer's stdout)
handler = UJsonSocketHandler("127.0.0.1", int(sys.argv[1]))
logger = logging.getLogger("dp_module")
logger.setLevel(logging.DEBUG)
logger.propagate = False
logger.addHandler(handler)

logger.info("plain message from dareplane")
logger.warning("formatted %s=%d", "n_trials", 12)
try:
    1 / 0  # noqa: B018 (raises the ZeroDivisionError logged below)
except ZeroDivisionError:
    logger.exception("decoder crashed")
logger.debug("last record")
handler.close()
