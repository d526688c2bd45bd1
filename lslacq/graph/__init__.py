"""Graph files: a whole distributed graph in one TOML file (``lslacq run``, ``lslacq check``, :func:`load_graph`).

See docs/graphs.md for the format. Names are resolved lazily.
"""

from __future__ import annotations

from .._lazy import lazy_exports

_LAZY = {
    "load_graph": "lslacq.graph.graph",
    "Graph": "lslacq.graph.graph",
    "GraphError": "lslacq.errors",
    "GraphErrors": "lslacq.errors",
    "GraphSpec": "lslacq.graph.spec",
    "read_graph": "lslacq.graph.spec",
    "validate": "lslacq.graph.validation",
    "SCHEMA": "lslacq.graph.schema",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _LAZY, globals())
