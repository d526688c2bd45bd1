"""Run dareplane-utils' LogRecordSocketReceiver on a free port, writing to the file given as argv[1].

Prints ``PORT <n>`` once listening.
"""

import sys
from pathlib import Path

from dareplane_utils.logging.server import LogRecordSocketReceiver

receiver = LogRecordSocketReceiver(host="127.0.0.1", port=0, logfile=Path(sys.argv[1]))
print("PORT", receiver.server_address[1], flush=True)  # noqa: T201 (the harness reads the peer's stdout)
receiver.serve_until_stopped()
