"""Run dareplane-utils' own DefaultServer with the same commands as the lslacq transcript tests.

Prints ``PORT <n>`` once listening, then serves until CLOSE.
"""

import sys
import threading

from dareplane_utils.default_server.server import DefaultServer

sys.path.insert(0, __import__("os").path.dirname(__file__))
from transcript_commands import make_pcommand_map  # noqa: E402

server = DefaultServer(0, ip="127.0.0.1", name="transcript_module", pcommand_map=make_pcommand_map())
server.init_server(stop_event=threading.Event())
print("PORT", server.server_socket.getsockname()[1], flush=True)  # noqa: T201 (the harness reads the peer's stdout)
server.start_listening()
server.shutdown()
