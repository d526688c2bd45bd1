"""pyacq's ``pyacq/viewers/test/test_qtoscilloscopemultiplot.py``, renamed to lslacq."""

from __future__ import annotations

import pytest


@pytest.mark.skip(reason="lslacq has no QOscilloscopeMultiPlot (one plot per channel, pyacq's later viewer): "
                         "a parity gap; QOscilloscope covers the single-plot case")
def test_qoscilloscopemultiplot1():
    pass
