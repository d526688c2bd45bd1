"""pylsl names that moved between releases (pylsl >= 1.16), imported from one place."""

from __future__ import annotations

try:  # pylsl >= 1.17
    from pylsl.lib import fmt2string
    from pylsl.lib import lib as liblsl
    from pylsl.util import LostError, handle_error
    from pylsl.util import TimeoutError as LslTimeoutError
except ImportError:  # pragma: no cover - pylsl 1.16 (single module)
    from pylsl.pylsl import LostError, fmt2string, handle_error
    from pylsl.pylsl import TimeoutError as LslTimeoutError
    from pylsl.pylsl import lib as liblsl

__all__ = ["LostError", "LslTimeoutError", "fmt2string", "handle_error", "liblsl"]
