"""Build hook: compile lslacq's optional C accelerator (lslacq/core/stream/_fastpath.c); never fail the install.

* ``pip install -e .`` (editable: a .pth points at this tree): the module is built in place, next to its
  source (git-ignored), where the import finds it.
* ``pip install .`` / a wheel: built in a temporary directory and put into the wheel, which then gets a
  platform tag (cp311-cp311-linux_x86_64).
* Not built (a pure-Python install; lslacq then takes the Python path, which behaves the same) when
  ``LSLACQ_NO_EXT=1``, when the platform is not Linux (the module finds pyzmq's libzmq with Linux's
  dl_iterate_phdr), or when the compiler fails (its message is shown as a warning).

``python hatch_build.py`` rebuilds it in place by hand (after editing _fastpath.c).
"""

from __future__ import annotations

import hashlib
import os
import shlex
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

SOURCE = Path("lslacq") / "core" / "stream" / "_fastpath.c"
MODULE = "lslacq/core/stream/_fastpath"
DISABLE_VARIABLE = "LSLACQ_NO_EXT"


def extension_name() -> str:
    """Return the module's path in the tree (``lslacq/core/stream/_fastpath.cpython-311-x86_64-linux-gnu.so``)."""
    return MODULE + (sysconfig.get_config_var("EXT_SUFFIX") or ".so")


def compile_extension(root: Path, out: Path) -> None:
    """Compile the module from ``root``'s source to ``out`` (raises OSError or CalledProcessError)."""
    source = root / SOURCE
    partial = out.with_name(out.name + ".partial")
    digest = hashlib.sha256(source.read_bytes()).hexdigest()  # fastpath.py refuses a module built from another
    compiler = shlex.split(os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc")
    command = [
        *compiler,
        "-O2",
        "-fPIC",
        "-shared",
        "-Wall",
        f"-I{sysconfig.get_paths()['include']}",
        f'-DLSLACQ_FASTPATH_SOURCE="{digest}"',
        str(source),
        "-o",
        str(partial),
        "-ldl",
    ]
    subprocess.run(command, check=True, capture_output=True, text=True, timeout=300)
    os.replace(partial, out)  # at once: a process that has the old module loaded keeps its copy


def skip_reason() -> str:
    """Why the module is not built here ('' if it is)."""
    if os.environ.get(DISABLE_VARIABLE, "") not in ("", "0"):
        return f"{DISABLE_VARIABLE}={os.environ[DISABLE_VARIABLE]}"
    if not sys.platform.startswith("linux"):
        return f"not on Linux ({sys.platform})"
    return ""


try:
    from hatchling.builders.hooks.plugin.interface import BuildHookInterface
except ImportError:  # `python hatch_build.py` outside a build environment
    BuildHookInterface = object  # type: ignore[assignment,misc]


class CustomBuildHook(BuildHookInterface):  # type: ignore[misc,valid-type]
    """hatchling's hook (``[tool.hatch.build.targets.wheel.hooks.custom]`` in pyproject.toml)."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict) -> None:
        """Build the module for a wheel (in place for an editable one); warn and go on if it cannot be."""
        if self.target_name != "wheel":
            return
        reason = skip_reason()
        if reason:
            self.app.display_info(f"lslacq: C accelerator not built ({reason}); the Python path is used")
            return
        root = Path(self.root)
        try:
            if version == "editable":
                compile_extension(root, root / extension_name())
            else:
                out = Path(tempfile.mkdtemp(prefix="lslacq-ext-")) / Path(extension_name()).name
                compile_extension(root, out)
                build_data["force_include"][str(out)] = extension_name()
                build_data["pure_python"] = False
                build_data["infer_tag"] = True
        except (OSError, subprocess.SubprocessError) as exc:
            detail = (getattr(exc, "stderr", "") or str(exc)).strip()[-600:]
            self.app.display_warning(f"lslacq: C accelerator not built ({detail}); the Python path is used")


if __name__ == "__main__":
    here = Path(__file__).resolve().parent
    why = skip_reason()
    if why:
        sys.exit(f"not built: {why}")
    compile_extension(here, here / extension_name())
    sys.stdout.write(f"built {extension_name()}\n")
