"""Colours of the viewers' margins: text in a channel's or marker's colour stays legible on the background."""

from __future__ import annotations

import pytest

from lslacq.viewers._qt import pg
from lslacq.viewers.scopeaxes import contrast_ratio, legible_color


def test_contrast_ratio_is_wcags():
    assert contrast_ratio(pg.mkColor("w"), pg.mkColor("k")) == pytest.approx(21.0)
    assert contrast_ratio(pg.mkColor("#777777"), pg.mkColor("#777777")) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("color", "background"),
    [("#0000a0", "k"), ("#202020", "k"), ("#ffff60", "w"), ("#ff4040", "k"), ("#40ff40", "#ffffff")],
)
def test_legible_color_reaches_the_contrast_and_keeps_legible_colours(color, background):
    result = legible_color(color, background)
    assert contrast_ratio(result, pg.mkColor(background)) >= 4.5
    if contrast_ratio(pg.mkColor(color), pg.mkColor(background)) >= 4.5:
        assert result.name() == pg.mkColor(color).name()  # a legible colour is kept as it is
    else:  # blended towards the contrasting text colour, keeping some of its hue
        assert result.name() != pg.mkColor(color).name()
