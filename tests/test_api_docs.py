"""The API reference (mkdocs.yml, docs/api/*.md): it lists every public name, and builds with --strict."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
API = ROOT / "docs" / "api"
PACKAGES = [
    ROOT / "lslacq",
    *(p for p in (ROOT / "lslacq").rglob("*") if (p / "__init__.py").is_file()),
    ROOT / "bridges" / "lslacq_lsl",
    ROOT / "bridges" / "lslacq_dareplane",
]
ALIASES = {"RemoteCallException"}  # pyacq's second name of RemoteCallError (documented there)


def public_names(init: Path) -> set[str]:
    """Names a package exports: its ``__all__`` literal and the keys of its lazy ``_LAZY`` table."""
    names: set[str] = set()
    for node in ast.parse(init.read_text(), str(init)).body:
        if isinstance(node, ast.Assign):
            targets = [t.id for t in node.targets if isinstance(t, ast.Name)]
            if "__all__" in targets and isinstance(node.value, (ast.List, ast.Tuple)):
                names.update(e.value for e in node.value.elts if isinstance(e, ast.Constant))
            if "_LAZY" in targets and isinstance(node.value, ast.Dict):
                names.update(k.value for k in node.value.keys if isinstance(k, ast.Constant))
    return names - ALIASES


def documented() -> set[str]:
    """The last component of every ``::: path`` directive of docs/api."""
    return {
        m.group(1).rsplit(".", 1)[-1]
        for page in API.glob("*.md")
        for m in re.finditer(r"^::: *([\w.]+)", page.read_text(), re.M)
    }


def test_every_public_name_has_its_entry_in_the_api_reference():
    on_pages = documented()
    assert {"SosFilter", "Node", "LslOutlet", "DefaultServer"} <= on_pages
    assert "SosFilter" in public_names(ROOT / "lslacq" / "dsp" / "__init__.py")
    missing = {str(init.relative_to(ROOT)): sorted(public_names(init / "__init__.py") - on_pages) for init in PACKAGES}
    missing = {pkg: names for pkg, names in missing.items() if names}
    assert not missing, f"add a '::: module.Name' line to a docs/api page for: {missing}"


def test_api_pages_are_in_the_nav_and_hold_no_code_blocks():
    nav = (ROOT / "mkdocs.yml").read_text()
    for page in API.glob("*.md"):
        assert f"api/{page.name}" in nav, f"{page.name} is not in mkdocs.yml's nav"
        assert "```" not in page.read_text(), f"{page.name}: API pages hold directives only (examples go in docs/)"


@pytest.mark.slow
def test_mkdocs_build_strict(tmp_path):
    pytest.importorskip("mkdocstrings_handlers.python", reason="the docs extra: pip install -e '.[docs]'")
    site = tmp_path / "site"
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    dsp = (site / "api" / "dsp" / "index.html").read_text()
    assert "SosFilter" in dsp and "Cut-off frequency in Hz" in dsp  # design_sos's docstring, rendered
    assert (site / "dsp" / "index.html").is_file()  # the guide pages are in the site too
