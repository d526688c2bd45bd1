"""The fast and slow variants every fuzz test runs under (profiles registered in conftest.py)."""

from __future__ import annotations

import pytest
from hypothesis import settings

#: parametrize a fuzz test with these: ``profile`` is then fed to :func:`fuzz_settings`
PROFILES = [
    pytest.param("lslacq-fuzz-fast", id="fast"),
    pytest.param("lslacq-fuzz-slow", id="slow", marks=pytest.mark.slow),
]


def fuzz_settings(profile: str, scale: float = 1.0) -> settings:
    """The profile's settings with ``scale`` times its examples (socket round trips cost more per example)."""
    base = settings.get_profile(profile)
    return settings(base, max_examples=max(20, int(base.max_examples * scale)))


def check_named(exc: BaseException, *names: str) -> None:
    """Fail unless the message of ``exc`` names one of ``names`` (the input, the stream, the option...)."""
    text = str(exc)
    if not any(name in text for name in names):
        raise AssertionError(f"{type(exc).__name__} does not name any of {names}: {text[:300]!r}")
