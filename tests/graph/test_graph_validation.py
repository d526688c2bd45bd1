"""Graph files: every validation error names the file, the line and the fix, before anything starts."""

from __future__ import annotations

import textwrap

import pytest

from lslacq.graph import GraphError, read_graph, validate
from lslacq.graph import graph as graph_module
from lslacq.graph.spec import parse_override

GOOD = """\
title = "device -> filter"
connections = [
    "dev.signals -> filt.signals",
]

[params]
rate = 1000.0
f_high = 40.0

[nodes.dev]
type = "NumpyDeviceBuffer"
configure = { nb_channel = 2, sample_interval = 0.001, chunksize = 10 }

[nodes.filt]
type = "SosFilter"
configure = { coefficients = { design_sos = { kind = "lowpass", freqs = "${f_high}", sample_rate = "${rate}" } } }
"""


def write(tmp_path, text: str, name: str = "graph.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def error_of(path, overrides=None) -> GraphError:
    with pytest.raises(GraphError) as info:
        validate(read_graph(path, overrides))
    return info.value


def line_of(path, fragment: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if fragment in line)


def test_a_valid_file_resolves_params_builders_and_order(tmp_path):
    spec = read_graph(write(tmp_path, GOOD), {"f_high": 30.0})
    assert validate(spec) == ["dev", "filt"]
    sos = spec.nodes["filt"].configure["coefficients"]
    assert sos.shape[1] == 6  # designed by design_sos with the overridden cut-off
    from lslacq.dsp import design_sos

    assert (sos == design_sos("lowpass", 30.0, sample_rate=1000.0)).all()
    assert spec.title == "device -> filter"


def test_unknown_node_type_gives_close_matches_and_the_line(tmp_path):
    path = write(tmp_path, GOOD.replace('"SosFilter"', '"SosFiltr"'))
    err = error_of(path)
    assert err.line == line_of(path, "SosFiltr") and err.path == str(path)
    assert "unknown node type 'SosFiltr'" in str(err) and "did you mean 'SosFilter'" in str(err)


def test_unknown_configure_argument_names_the_arguments(tmp_path):
    path = write(tmp_path, GOOD.replace("configure = { coefficients", "configure = { coeficients"))
    err = error_of(path)
    assert err.line == line_of(path, "coeficients")
    assert "has no argument 'coeficients'" in str(err) and "did you mean 'coefficients'" in str(err)


def test_output_that_does_not_exist(tmp_path):
    path = write(tmp_path, GOOD.replace("dev.signals ->", "dev.signal ->"))
    err = error_of(path)
    assert err.line == line_of(path, "dev.signal ->")
    assert "has no output 'signal'" in str(err) and "did you mean dev.signals" in str(err)


def test_unknown_node_in_a_connection(tmp_path):
    path = write(tmp_path, GOOD.replace("-> filt.signals", "-> flt.signals"))
    err = error_of(path)
    assert err.line == line_of(path, "flt.signals") and "no node named 'flt'" in str(err)


def test_input_with_two_sources(tmp_path):
    text = GOOD.replace(
        '    "dev.signals -> filt.signals",', '    "dev.signals -> filt.signals",\n    "dev2.signals -> filt.signals",'
    )
    text += '\n[nodes.dev2]\ntype = "NumpyDeviceBuffer"\n'
    path = write(tmp_path, text)
    err = error_of(path)
    assert err.line == line_of(path, "dev2.signals -> filt")
    assert "has two sources" in str(err) and "remove one" in str(err)


def test_cycle(tmp_path):
    text = """\
    connections = ["a -> b", "b -> a"]
    [nodes.a]
    type = "SosFilter"
    [nodes.b]
    type = "SosFilter"
    """
    path = write(tmp_path, text)
    err = error_of(path)
    assert "cycle: a -> b -> a" in str(err) and err.line == 1


def test_unknown_nodegroup(tmp_path):
    path = write(tmp_path, GOOD.replace('type = "SosFilter"', 'type = "SosFilter"\nnodegroup = "dsp"'))
    err = error_of(path)
    assert err.line == line_of(path, 'nodegroup = "dsp"')
    assert "nodegroup 'dsp' is not defined" in str(err) and "[nodegroups.dsp]" in str(err)


def test_invalid_toml_gives_its_line(tmp_path):
    path = write(tmp_path, GOOD.replace("rate = 1000.0", "rate = = 1000.0"))
    err = error_of(path)
    assert err.line == line_of(path, "rate = = 1000.0") and "not valid TOML" in str(err)


def test_misspelt_key_is_caught_by_the_schema(tmp_path):
    path = write(tmp_path, GOOD.replace("configure = { nb_channel", "configur = { nb_channel"))
    err = error_of(path)
    assert err.line == line_of(path, "configur =")
    assert "unknown key 'configur' in nodes.dev" in str(err) and "did you mean 'configure'" in str(err)


def test_connections_written_after_a_table_are_explained(tmp_path):
    path = write(
        tmp_path,
        GOOD.replace('connections = [\n    "dev.signals -> filt.signals",\n]\n', "")
        + 'connections = ["dev.signals -> filt.signals"]\n',
    )
    err = error_of(path)
    assert "must be written at the top of the file" in str(err)


def test_bad_connection_syntax(tmp_path):
    path = write(tmp_path, GOOD.replace("dev.signals -> filt.signals", "dev.signals => filt.signals"))
    err = error_of(path)
    assert err.line == line_of(path, "=>") and "node.output -> node.input" in str(err)


def test_undefined_parameter(tmp_path):
    path = write(tmp_path, GOOD.replace('"${rate}"', '"${srate}"'))
    err = error_of(path)
    assert err.line == line_of(path, "${srate}") and "names no parameter" in str(err) and "rate" in str(err)


def test_overrides_must_name_a_parameter_or_a_node(tmp_path):
    path = write(tmp_path, GOOD)
    assert "no parameter 'fhigh'" in str(error_of(path, {"fhigh": 3}))
    assert "no node 'flt'" in str(error_of(path, {"flt.x": 3}))
    spec = read_graph(path, {"dev.chunksize": 20})
    assert spec.nodes["dev"].configure["chunksize"] == 20


def test_parse_override_reads_toml_values():
    assert parse_override("f_high=40") == ("f_high", 40)
    assert parse_override("filt.freqs=[1, 40.5]") == ("filt.freqs", [1, 40.5])
    assert parse_override("name=EEG") == ("name", "EEG")
    with pytest.raises(GraphError, match="NAME=VALUE"):
        parse_override("f_high")


def test_includes_merge_and_refuse_duplicates(tmp_path):
    write(
        tmp_path,
        """\
    [params]
    rate = 500.0
    [nodes.dev]
    type = "NumpyDeviceBuffer"
    """,
        "common.toml",
    )
    main = write(
        tmp_path,
        """\
    include = ["common.toml"]
    connections = ["dev.signals -> filt.signals"]
    [params]
    rate = 1000.0
    [nodes.filt]
    type = "SosFilter"
    """,
    )
    spec = read_graph(main)
    assert list(spec.nodes) == ["dev", "filt"] and spec.params["rate"] == 1000.0  # the including file wins
    assert validate(spec) == ["dev", "filt"]
    dup = write(tmp_path, 'include = "common.toml"\n[nodes.dev]\ntype = "SosFilter"\n', "dup.toml")
    err = error_of(dup)
    assert "defined both here and in" in str(err) and err.line == 2
    loop = write(tmp_path, 'include = "loop.toml"\n', "loop.toml")
    assert "include cycle" in str(error_of(loop))


@pytest.mark.slow
def test_host_that_does_not_answer(tmp_path, monkeypatch):
    monkeypatch.setattr(graph_module, "_HOST_TIMEOUT_S", 0.5)
    path = write(
        tmp_path,
        GOOD.replace('type = "SosFilter"', 'type = "SosFilter"\nnodegroup = "far"')
        + '\n[nodegroups.far]\nhost = "tcp://127.0.0.1:9"\n',
    )
    with pytest.raises(GraphError) as info:
        graph_module.load_graph(path)
    err = info.value
    assert err.line == line_of(path, "[nodegroups.far]")
    assert "does not answer" in str(err) and "lslacq host tcp://127.0.0.1:9" in str(err)


def test_streams_made_at_configure_time_are_checked_when_built(tmp_path):
    text = """\
    connections = ["dev.signals -> split.in", "split.left -> filt.signals"]
    [nodes.dev]
    type = "NumpyDeviceBuffer"
    [nodes.split]
    type = "ChannelSplitter"
    configure = { output_channels = { left = [0, 1] } }
    [nodes.filt]
    type = "SosFilter"
    """
    assert validate(read_graph(write(tmp_path, text))) == ["dev", "split", "filt"]  # 'left' exists once configured
    path = write(tmp_path, text.replace("split.left -> filt", "split -> filt"), "unnamed.toml")
    assert "name the output of 'split'" in str(error_of(path))


def test_a_sole_declared_stream_of_a_configurable_node_is_the_default(tmp_path):
    """ChannelSplitter's input and a one-video ImageViewer's input need no name (the default configuration's).

    The splitter's outputs, made from its configure arguments, still do (test above).
    """
    pytest.importorskip("pyqtgraph")
    spec = read_graph(
        write(
            tmp_path,
            """\
    connections = ["dev -> split", "split.left -> filt", "cam -> view"]
    [nodes.dev]
    type = "NumpyDeviceBuffer"
    [nodes.split]
    type = "ChannelSplitter"
    configure = { output_channels = { left = [0, 1] } }
    [nodes.filt]
    type = "SosFilter"
    [nodes.cam]
    type = "WebCamAV"
    [nodes.view]
    type = "ImageViewer"
    """,
        )
    )
    validate(spec)
    assert [(c.output, c.input) for c in spec.connections] == [
        ("signals", "in"),
        ("left", "signals"),
        ("signals", "video"),
    ]


def test_a_viewer_outside_a_qt_nodegroup_is_refused_before_anything_starts(tmp_path):
    pytest.importorskip("pyqtgraph")
    path = write(
        tmp_path,
        """\
    connections = ["dev -> scope.signals"]
    [nodes.dev]
    type = "NumpyDeviceBuffer"
    [nodes.scope]
    type = "QOscilloscope"
    """,
    )
    with pytest.raises(GraphError) as info:
        graph_module.load_graph(path)
    assert info.value.line == 4 and "needs a Qt event loop" in str(info.value) and "qt = true" in str(info.value)


BAD_EVERYWHERE = """\
connections = ["eeg.signals -> outlet", "eeg.signal -> outlet2"]

[nodes.eeg]
type = "SimulatedEEG"
configure = { nb_channel = "eight", sample_rate = -250.0 }

[nodes.outlet]
type = "LslOutlet"
configure = { name = 5 }

[nodes.outlet2]
type = "LslOutlet"
configure = { stream_name = "x" }

[nodes.typo]
type = "NumpyDeviceBufer"
"""


def test_every_problem_of_a_file_is_reported_in_one_pass(tmp_path):
    from lslacq.graph.spec import GraphErrors

    path = write(tmp_path, BAD_EVERYWHERE)
    err = error_of(path)
    assert isinstance(err, GraphErrors)
    found = [(e.line, e.reason) for e in err.errors]
    assert found == [
        (line_of(path, '"eight"'), "node 'eeg': nb_channel must be an int, got 'eight' (str) (EEG channels)"),
        (line_of(path, '"eight"'), "node 'eeg': sample_rate must be > 0, got -250.0 (Hz)"),
        (line_of(path, "name = 5"), "node 'outlet': name must be a string, got 5 (int) (LSL stream name)"),
        (line_of(path, "stream_name"), found[3][1]),
        (line_of(path, "NumpyDeviceBufer"), found[4][1]),
        (1, found[5][1]),
    ]
    assert len(err.errors) == 6
    text = str(err)
    assert "did you mean 'name'" in text and "did you mean 'NumpyDeviceBuffer'" in text
    assert "did you mean eeg.signals" in text
    assert text.count(str(path)) == 6  # one line per problem, each with its file and line


def test_check_and_configure_share_one_declaration_of_types_and_ranges(tmp_path):
    from lslacq.devices import SimulatedEEG

    node = SimulatedEEG(name="sim")
    with pytest.raises(ValueError, match=r"sim: sample_rate must be > 0, got -250.0 \(Hz\)"):
        node.configure(sample_rate=-250.0)
    with pytest.raises(TypeError, match="sim: nb_channel must be an int, got 'eight'"):
        node.configure(nb_channel="eight")
    node.close()
    path = write(tmp_path, GOOD.replace("nb_channel = 2", "nb_channel = 2.5"))
    err = error_of(path)
    assert err.line == line_of(path, "nb_channel = 2.5") and "nb_channel must be an int, got 2.5" in str(err)


def test_every_structure_problem_is_reported_in_one_pass(tmp_path):
    from lslacq.graph.spec import GraphErrors

    path = write(
        tmp_path,
        GOOD.replace("[nodes.dev]", "[nodes.dev]\nnodegrup = 'x'").replace(
            'type = "SosFilter"', 'type = "SosFilter"\nconfigur = {}'
        ),
    )
    with pytest.raises(GraphErrors) as info:
        read_graph(path)
    reasons = [e.reason for e in info.value.errors]
    assert len(reasons) == 2
    assert "unknown key 'nodegrup' in nodes.dev; did you mean 'nodegroup'?" in reasons
    assert "unknown key 'configur' in nodes.filt; did you mean 'configure'?" in reasons
