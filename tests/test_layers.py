"""Layers visible and enforced (issue 23).

The import contracts are in ``.importlinter`` (import-linter): packages depend downwards, Qt only in the
viewers, pylsl only in the LSL bridge, private modules inside their package, no cycles between siblings.
This file runs them, checks that they would catch a break, and checks what import-linter cannot: that no
module imports another module's private names.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [ROOT / "lslacq", ROOT / "bridges" / "lslacq_lsl", ROOT / "bridges" / "lslacq_dareplane"]

# Private names imported from another module of the tree, left for a later change: none since issue 23 made
# the last ones public. An entry is removed with its import; the test fails on a stale entry too.
KNOWN_PRIVATE_IMPORTS: set[tuple[str, str, str]] = set()


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    """Run import-linter on the tree at ``root`` (its packages first on the path), without a cache."""
    pytest.importorskip("importlinter", reason="import-linter is in the test extra")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(root), str(root / "bridges")]))
    code = (
        "import sys; from importlinter.cli import lint_imports; "
        "sys.exit(lint_imports(config_filename='.importlinter', no_cache=True, no_logo=True))"
    )
    return subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, timeout=60)


def test_import_contracts_hold():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "7 kept, 0 broken" in result.stdout, result.stdout


def test_the_contracts_catch_an_import_that_breaks_them(tmp_path):
    for src in SOURCES:
        dest = tmp_path / src.relative_to(ROOT)
        shutil.copytree(src, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy(ROOT / ".importlinter", tmp_path)
    breaks = {  # module: the line that breaks one contract each
        "lslacq/core/signal.py": "from lslacq.dsp import sos",  # core importing a layer above it
        "lslacq/core/stream/spec.py": "from lslacq.core import node",  # a stream module importing the nodes
        "lslacq/rec/reader.py": "import pylsl",  # pylsl outside the LSL bridge
        "lslacq/dsp/sos.py": "import pyqtgraph",  # Qt outside the viewers
        "lslacq/devices/segments.py": "from lslacq.rec import _mne",  # a private module of another package
        "lslacq/cli/check.py": "from lslacq.cli import run",  # a command importing another command
    }
    for path, line in breaks.items():
        with open(tmp_path / path, "a") as f:
            f.write(f"\n{line}\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0, result.stdout
    out = result.stdout
    assert "lslacq.core.signal -> lslacq.dsp.sos" in out, out
    assert "lslacq.core.stream.spec -> lslacq.core.node" in out, out
    assert "lslacq.rec.reader -> pylsl" in out, out
    assert "lslacq.dsp.sos -> pyqtgraph" in out, out
    assert "lslacq.devices.segments -> lslacq.rec._mne" in out, out
    assert "lslacq.cli.check -> lslacq.cli.run" in out, out
    assert "Contracts: 0 kept, 7 broken." in out, out  # stream -> node is also a cycle (node imports stream)


def private_imports() -> set[tuple[str, str, str]]:
    """``(file, module, name)`` for every ``from module import _name`` in the tree.

    Not counted: a C extension imported by its Python wrapper next to it (``from . import _fastpath`` in
    the directory of ``_fastpath.c``), the one module meant to import it.
    """
    found = set()
    for src in SOURCES:
        for path in sorted(src.rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.ImportFrom):
                    module = "." * node.level + (node.module or "")
                    found.update(
                        (path.relative_to(ROOT).as_posix(), module, alias.name)
                        for alias in node.names
                        if alias.name.startswith("_")
                        and not alias.name.startswith("__")
                        and not (module == "." and (path.parent / f"{alias.name}.c").exists())
                    )
    return found


def test_no_module_imports_another_modules_private_names():
    found = private_imports()
    new = sorted(found - KNOWN_PRIVATE_IMPORTS)
    assert not new, f"private names imported from another module (make them public or move them): {new}"
    stale = sorted(KNOWN_PRIVATE_IMPORTS - found)
    assert not stale, f"remove these from KNOWN_PRIVATE_IMPORTS, the imports are gone: {stale}"


def test_graph_error_lives_in_lslacq_errors_and_keeps_its_old_paths():
    import lslacq.errors
    import lslacq.graph
    import lslacq.graph.spec

    assert lslacq.graph.spec.GraphError is lslacq.errors.GraphError is lslacq.graph.GraphError
    assert lslacq.graph.spec.GraphErrors is lslacq.errors.GraphErrors is lslacq.graph.GraphErrors
    assert issubclass(lslacq.errors.GraphError, lslacq.errors.LslacqError)
    with pytest.raises(lslacq.errors.GraphErrors, match="a.toml:3: first\na.toml:5: second"):
        lslacq.errors.raise_all(
            [lslacq.errors.GraphError("first", "a.toml", 3), lslacq.errors.GraphError("second", "a.toml", 5)]
        )
