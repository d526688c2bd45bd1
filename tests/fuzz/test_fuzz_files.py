"""Files and descriptions fed garbage: graph TOML files, recording JSON, LSL stream descriptions.

A bad graph file raises GraphError naming the file; a bad recording raises
ValueError naming its ``stream_properties.json``; any LSL description reads
into a StreamDescription with one name per channel.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
from fuzz_profiles import PROFILES, check_named, fuzz_settings
from hypothesis import example, given
from hypothesis import strategies as st

from lslacq.errors import GraphError
from lslacq.graph import read_graph, validate

# -- graph TOML files ----------------------------------------------------------------------------------------------

_idents = st.sampled_from(["eeg", "filt", "out", "x", "a-b", "main", "", "1", "eeg.signals"])
_types = st.sampled_from(["SimulatedEEG", "SosFilter", "LslOutlet", "NumpyDeviceBuffer", "Nope", "", "1"])
_toml_values = st.one_of(
    st.integers(-10, 10**6).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(
        lambda f: "nan" if f != f else ("inf" if f == float("inf") else "-inf" if f == -float("inf") else repr(f))
    ),
    st.text(max_size=10).map(json.dumps),
    st.sampled_from(
        [
            "true",
            "[]",
            "{}",
            '"${rate}"',
            '"${nope}"',
            '"${x"',
            "[1, [2]]",
            '{ design_sos = { kind = "lowpass" } }',
            '{ array = { values = [[1]], dtype = "f4" } }',
            '{ array = { values = "x" } }',
            "1979-05-27",
        ]
    ),
)
_conf_keys = st.sampled_from(
    ["nb_channel", "sample_rate", "coefficients", "name", "chunksize", "event_interval", "bogus"]
)


@st.composite
def graph_texts(draw):
    """TOML documents shaped like graph files, with any mistake in their keys, values and connections."""
    lines = []
    if draw(st.booleans()):
        conns = draw(
            st.lists(
                st.builds(lambda a, b, c, d: f"{a}.{b} -> {c}.{d}", _idents, _idents, _idents, _idents)
                | st.text(max_size=12),
                max_size=3,
            )
        )
        lines.append(f"connections = {json.dumps(conns)}")
    if draw(st.booleans()):
        include = draw(st.sampled_from(['"missing.toml"', "[]", "5", '"graph.toml"']))
        lines.append(f"include = {include}")
    if draw(st.booleans()):
        lines += ["[params]"] + [
            f"{k} = {v}"
            for k, v in draw(
                st.dictionaries(st.sampled_from(["rate", "channels", "name"]), _toml_values, max_size=3)
            ).items()
        ]
    for group in draw(st.lists(st.sampled_from(["acq", "main", "dsp"]), max_size=2, unique=True)):
        lines += [f"[nodegroups.{group}]"]
        if draw(st.booleans()):
            lines.append(f"host = {draw(_toml_values)}")
    for name in draw(st.lists(st.sampled_from(["eeg", "filt", "out"]), max_size=3, unique=True)):
        lines += [f"[nodes.{name}]", f"type = {json.dumps(draw(_types))}"]
        if draw(st.booleans()):
            lines.append(f"nodegroup = {json.dumps(draw(_idents))}")
        conf = draw(st.dictionaries(_conf_keys, _toml_values, max_size=3))
        if conf:
            lines.append("configure = { " + ", ".join(f"{k} = {v}" for k, v in conf.items()) + " }")
        if draw(st.booleans()):
            lines.append(f"outputs.signals = {draw(_toml_values)}")
    text = "\n".join(lines) + "\n"
    if draw(st.booleans()):  # a random edit: delete or insert characters somewhere
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.text(max_size=4)) + text[at + draw(st.integers(0, 3)) :]
    return text


@pytest.mark.parametrize("profile", PROFILES)
def test_graph_files_read_or_raise_a_graph_error_naming_the_file(profile):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "graph.toml"

        @fuzz_settings(profile, scale=0.3)
        @given(text=st.one_of(graph_texts(), st.text(max_size=60)))
        @example(text='[nodes.eeg]\ntype = "SimulatedEEG"\nconfigure = { sample_rate = nan }\n')
        @example(text='include = "graph.toml"\n')  # includes itself
        def check(text):
            path.write_text(text, encoding="utf-8")
            try:
                spec = read_graph(path)
                validate(spec)
            except GraphError as exc:
                check_named(exc, "graph.toml")

        check()


# -- recording JSON ----------------------------------------------------------------------------------------------

_json_any = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.floats(), st.text(max_size=6)),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)
_PROP_KEYS = [
    "dtype",
    "shape",
    "sample_rate",
    "start_index",
    "state",
    "flush_time",
    "nb_sample",
    "discontinuities",
    "channel_names",
    "channel_info",
    "error",
    "streamtype",
]
_prop_values = {
    "dtype": st.sampled_from(["float32", "int16", "<f8", "nope", "", "O", "V0", "S0", "f4,i2"]) | _json_any,
    "shape": st.lists(st.integers(-3, 5) | st.integers(-(2**62), 2**62), max_size=4) | _json_any,
    "state": st.sampled_from(["stopped", "recording", "failed", "initialized", "stopping", "?"]) | _json_any,
}


@st.composite
def stream_properties(draw):
    entries = {}
    for name in draw(st.lists(st.sampled_from(["input0", "input1", "sig"]), max_size=2, unique=True)):
        prop = {
            key: draw(_prop_values.get(key, _json_any))
            for key in draw(st.lists(st.sampled_from(_PROP_KEYS), max_size=6, unique=True))
        }
        if draw(st.booleans()):
            prop.setdefault("dtype", "float32")
            prop.setdefault("shape", [-1, 2])
        entries[name] = prop
    if draw(st.booleans()):
        entries["pyacq_version"] = draw(_json_any)
    return entries


@pytest.mark.parametrize("profile", PROFILES)
def test_recordings_read_or_raise_a_value_error_naming_the_file(profile):
    from lslacq.rec import read_recording

    with tempfile.TemporaryDirectory() as tmp:
        rec = Path(tmp) / "rec"
        rec.mkdir()

        @fuzz_settings(profile, scale=0.3)
        @given(
            props=st.one_of(stream_properties(), _json_any),
            raw=st.binary(max_size=40),
            text=st.none() | st.text(max_size=20),
        )
        @example(props={"input0": {"dtype": "float32", "shape": "ab"}}, raw=b"", text=None)
        @example(props={"input0": {"dtype": "float32", "shape": [-1, -2]}}, raw=b"\0" * 16, text=None)
        @example(
            props={"input0": {"dtype": "float32", "shape": [-1, 2], "state": "x", "flush_time": "soon"}},
            raw=b"\0" * 16,
            text=None,
        )
        @example(props=[1, 2], raw=b"", text=None)
        def check(props, raw, text):
            (rec / "stream_properties.json").write_text(text if text is not None else json.dumps(props))
            for name in ("input0", "input1", "sig"):
                (rec / f"{name}.raw").write_bytes(raw)
            try:
                recording = read_recording(rec)
            except ValueError as exc:
                check_named(exc, "stream_properties.json")
                return
            with recording:
                for stream in recording.streams.values():
                    assert len(stream) >= 0 and isinstance(stream.end_note, str)

        check()


# -- LSL stream descriptions ----------------------------------------------------------------------------------------

_xml_names = st.sampled_from(
    ["channels", "channel", "label", "unit", "type", "acquisition", "manufacturer", "model", "x", "desc"]
)
_xml_text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), max_size=8)


@st.composite
def desc_trees(draw, depth=0):
    """(name, text or children) trees to append under an info's desc."""
    name = draw(_xml_names)
    if depth >= 3 or draw(st.booleans()):
        return (name, draw(_xml_text))
    return (name, draw(st.lists(desc_trees(depth=depth + 1), max_size=4)))


def _append(element, tree) -> None:
    name, content = tree
    if isinstance(content, str):
        element.append_child_value(name, content)
    else:
        child = element.append_child(name)
        for sub in content:
            _append(child, sub)


@pytest.mark.parametrize("profile", PROFILES)
def test_lsl_descriptions_read_with_one_name_per_channel(profile):
    import pylsl

    from lslacq_lsl.metadata import describe_stream

    @fuzz_settings(profile, scale=0.3)
    @given(
        n=st.integers(1, 40),
        fmt=st.sampled_from([pylsl.cf_float32, pylsl.cf_string, pylsl.cf_int16, pylsl.cf_double64]),
        rate=st.sampled_from([0.0, 500.0, 1e-3]),
        trees=st.lists(desc_trees(), max_size=4),
        name=_xml_text,
    )
    def check(n, fmt, rate, trees, name):
        info = pylsl.StreamInfo(name or "s", "EEG", n, rate, fmt, "fuzz-src")
        for tree in trees:
            _append(info.desc(), tree)
        d = describe_stream(info)
        assert d.channel_count == n
        assert len(d.channel_names) == len(d.channel_units) == len(d.channel_types) == n
        assert all(isinstance(x, str) and x for x in d.channel_names)
        assert d.dtype == np.dtype(object) or d.dtype.kind in "fi"
        d.summary()

    check()
