"""The viewers' parameter tree is validated by core's Param: one set of rules and messages."""

from __future__ import annotations

import math

import pytest

from lslacq.core.params import Param

TREE = [
    {"name": "xsize", "type": "float", "value": 3.0, "limits": (0.1, 60.0)},
    {"name": "nb_column", "type": "int", "value": 1, "limits": (1, None)},
    {"name": "auto", "type": "bool", "value": True},
    {"name": "mode", "type": "list", "value": "a", "limits": ["a", "b"]},
    {"name": "background_color", "type": "color", "value": "k"},
    {"name": "title", "type": "str", "value": ""},
    {
        "name": "timefreq",
        "type": "group",
        "children": [{"name": "f_stop", "type": "float", "value": 90.0, "limits": (1.0, None)}],
    },
]


@pytest.fixture
def params(qapp):
    from lslacq.viewers.params import ParamGroup, make_group

    return ParamGroup(make_group("Global options", TREE), "scope.params")


def _core_message(decl: Param, value) -> tuple[type, str]:
    with pytest.raises((TypeError, ValueError)) as info:
        decl.validate(value, owner="scope")
    return info.type, str(info.value)


@pytest.mark.parametrize(
    ("key", "value", "decl"),
    [
        ("xsize", 0.0, Param("xsize", 3.0, type=float, limits=(0.1, 60.0))),
        ("xsize", "wide", Param("xsize", 3.0, type=float, limits=(0.1, 60.0))),
        ("xsize", math.nan, Param("xsize", 3.0, type=float, limits=(0.1, 60.0))),
        ("nb_column", 1.5, Param("nb_column", 1, type=int, limits=(1, None))),
        ("nb_column", 0, Param("nb_column", 1, type=int, limits=(1, None))),
        ("auto", "yes", Param("auto", True, type=bool)),
        ("mode", "c", Param("mode", "a", choices=["a", "b"])),
    ],
)
def test_a_refused_value_raises_what_core_param_raises(params, key, value, decl):
    """Same exception type and words as the processing nodes' Params (owner 'scope': 'scope.params[...]')."""
    error, message = _core_message(decl, value)
    with pytest.raises(error) as info:
        params[key] = value
    assert str(info.value) == message
    assert params[key] == {p["name"]: p.get("value") for p in TREE}[key]  # the old value is kept


def test_values_are_converted_as_core_param_converts_them(params):
    params["nb_column"] = 4.0
    assert params["nb_column"] == 4 and isinstance(params["nb_column"], int)
    params["xsize"] = 5
    assert params["xsize"] == 5.0 and isinstance(params["xsize"], float)
    params["auto"] = 0
    assert params["auto"] is False
    params["mode"] = "b"
    params["title"] = "anything"  # types Param does not declare are not checked
    assert (params["mode"], params["title"]) == ("b", "anything")


def test_nested_keys_colors_and_none_name_the_viewer_key(params):
    out_of_range = r"^scope\.params\['timefreq', 'f_stop'\] = 0\.5 is out of range \[1\.0, None\]$"
    with pytest.raises(ValueError, match=out_of_range):
        params["timefreq", "f_stop"] = 0.5
    params[["timefreq", "f_stop"]] = 40  # a list is a path too (a tuple key arrives as a list through RPC)
    assert params["timefreq", "f_stop"] == 40.0
    not_a_colour = r"^scope\.params\['background_color'\] = 'bluish' is not a color; use a name"
    with pytest.raises(ValueError, match=not_a_colour):
        params["background_color"] = "bluish"
    params["background_color"] = "#102030"
    assert params["background_color"].name() == "#102030"
    with pytest.raises(TypeError, match=r"^scope\.params\['xsize'\] must be a number, got None$"):
        params["xsize"] = None


def test_limits_changed_at_run_time_are_the_ones_checked(params):
    params.param("xsize").setLimits((1.0, 2.0))  # QTimeFreq narrows xsize to the stream's rate and max_xsize
    with pytest.raises(ValueError, match=r"= 3\.0 is out of range \[1\.0, 2\.0\]"):
        params["xsize"] = 3.0


def test_by_channel_errors_name_the_channel(qapp):
    from lslacq.viewers.params import ByChannelParams, make_group

    channels = [
        {"name": name, "type": "group", "children": [{"name": "gain", "type": "float", "value": 1.0}]}
        for name in ("Fp1", "Fp2")
    ]
    by_channel = ByChannelParams(make_group("AnalogSignals", channels), "scope.by_channel_params", ["Fp1", "Fp2"])
    with pytest.raises(TypeError, match=r"^scope\.by_channel_params\['Fp2', 'gain'\] must be a number, got 'x'$"):
        by_channel[1, "gain"] = "x"
    by_channel["ch1", "gain"] = 2
    assert by_channel.values("gain") == [1.0, 2.0]
