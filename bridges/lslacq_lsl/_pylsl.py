"""pylsl names that moved between releases (pylsl >= 1.16), imported from one place."""

from __future__ import annotations

import os

try:  # pylsl >= 1.17
    from pylsl.lib import fmt2string
    from pylsl.lib import lib as liblsl
    from pylsl.util import LostError, handle_error
    from pylsl.util import TimeoutError as LslTimeoutError
except ImportError:  # pragma: no cover - pylsl 1.16 (single module)
    from pylsl.pylsl import LostError, fmt2string, handle_error
    from pylsl.pylsl import TimeoutError as LslTimeoutError
    from pylsl.pylsl import lib as liblsl

__all__ = ["LostError", "LslTimeoutError", "fmt2string", "handle_error", "liblsl", "LOG_LEVEL_ENV"]

#: Environment variable with liblsl's log level (loguru: -2 errors, -1 warnings, 0 info, 1+ debug).
#: The ``lslacq`` command sets it from ``-v`` (errors only by default); processes it spawns inherit it.
LOG_LEVEL_ENV = "LSLACQ_LIBLSL_LOG_LEVEL"


def _user_config_file() -> str | None:
    """Return the configuration file liblsl itself would load (its documented search order)."""
    candidates = [
        os.environ.get("LSLAPICFG", ""),
        "lsl_api.cfg",
        os.path.expanduser("~/lsl_api/lsl_api.cfg"),
        "/etc/lsl_api/lsl_api.cfg",
    ]
    return next((path for path in candidates if path and os.path.isfile(path)), None)


def _apply_log_level() -> None:
    """Give liblsl the log level of :data:`LOG_LEVEL_ENV`, keeping the user's own configuration.

    liblsl reads its configuration once, on first use: this runs at import,
    before any stream is made. A configuration file with its own ``[log]``
    section wins.
    """
    level = os.environ.get(LOG_LEVEL_ENV, "").strip()
    if not level or not hasattr(liblsl, "lsl_set_config_content"):
        return
    path = _user_config_file()
    content = ""
    if path:
        with open(path, encoding="utf-8", errors="replace") as file:
            content = file.read()
    if "[log]" not in content:
        content += f"\n[log]\nlevel = {int(level)}\n"
    liblsl.lsl_set_config_content(content.encode())


_apply_log_level()
