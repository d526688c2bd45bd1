"""Compression codecs for plaindata streams.

``''`` means no compression. ``'blosclz'`` (also spelt ``'blosc-blosclz'``,
pyacq's name) and ``'blosc-lz4'`` use the blosc2 package when it is installed;
``'zlib'`` and ``'lzma'`` come from the standard library and are always
available.
"""

from __future__ import annotations

import importlib.util
import lzma
import zlib
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Codec", "get_codec", "available_codecs", "compression_methods", "KNOWN_CODECS", "CODEC_ALIASES"]

KNOWN_CODECS = ("", "blosclz", "blosc-lz4", "zlib", "lzma")
#: other accepted spellings -> codec name (pyacq names blosc codecs 'blosc-<cname>')
CODEC_ALIASES = {"blosc-blosclz": "blosclz"}


@dataclass(frozen=True)
class Codec:
    """A named pair of compress/decompress functions working on bytes-like objects."""

    name: str
    compress: Callable[[memoryview, int], bytes]
    decompress: Callable[[bytes], bytes]


def _blosc2_codec(name: str, codec_attr: str) -> Codec:
    import blosc2

    codec = getattr(blosc2.Codec, codec_attr)

    def compress(buf, typesize):
        return blosc2.compress(
            buf, typesize=max(1, min(typesize, 255)), codec=codec, clevel=5, filter=blosc2.Filter.SHUFFLE
        )

    return Codec(name, compress, blosc2.decompress)


def _has_blosc2() -> bool:
    return importlib.util.find_spec("blosc2") is not None


def available_codecs() -> list[str]:
    """Return the codec names usable in this environment."""
    names = ["", "zlib", "lzma"]
    if _has_blosc2():
        names[1:1] = ["blosclz", "blosc-lz4"]
    return names


def get_codec(name: str) -> Codec | None:
    """Return the codec called ``name`` (None for ``''``).

    Raises
    ------
    ValueError
        For an unknown name, or a blosc codec when blosc2 is not installed; the
        message lists the valid names.
    """
    if name == "":
        return None
    name = CODEC_ALIASES.get(name, name)
    if name == "zlib":
        return Codec(name, lambda buf, _ts: zlib.compress(buf, 1), zlib.decompress)
    if name == "lzma":
        return Codec(name, lambda buf, _ts: lzma.compress(buf, preset=1), lzma.decompress)
    if name in ("blosclz", "blosc-lz4"):
        if not _has_blosc2():
            raise ValueError(
                f"compression {name!r} needs the blosc2 package: pip install 'lslacq[compression]'; "
                f"available now: {available_codecs()}"
            )
        return _blosc2_codec(name, "BLOSCLZ" if name == "blosclz" else "LZ4")
    raise ValueError(f"unknown compression {name!r}; valid names: {available_codecs()}")


#: pyacq's name: every ``compression`` value usable here, blosc codecs spelt as
#: pyacq spells them (``'blosc-blosclz'``, ``'blosc-lz4'``), then zlib and lzma.
compression_methods: list[str] = [{"blosclz": "blosc-blosclz"}.get(name, name) for name in available_codecs()]
