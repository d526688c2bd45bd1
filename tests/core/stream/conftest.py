"""Fixtures shared by the stream tests."""

import pytest

from lslacq.core.stream import InputStream, OutputStream


@pytest.fixture
def pair():
    """Factory for a configured output + connected input, closed after the test."""
    made = []

    def make(input_spec=None, **config):
        out = OutputStream(name="out")
        out.configure(**config)
        inp = InputStream(spec=input_spec, name="in")
        inp.connect(out)
        made.append((out, inp))
        return out, inp

    yield make
    for out, inp in made:
        inp.close()
        out.close()
