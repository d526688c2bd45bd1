"""A graph file sets a node's online parameters (``params``) and a viewer's window (``window``)."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from lslacq.graph import GraphError, load_graph, read_graph, validate

SCOPE = """\
connections = ["dev.signals -> scope.signals"]

[nodegroups.gui]
qt = true

[nodes.dev]
type = "NumpyDeviceBuffer"
configure = { nb_channel = 2, sample_interval = 0.001, chunksize = 10 }

[nodes.scope]
type = "QOscilloscope"
nodegroup = "gui"
params = { xsize = 2.0, scale_mode = "by_channel", refresh_interval = 20, first_channel = 1 }
by_channel_params = { ch1 = { gain = 0.5, offset = 1.0 } }
window = { size = [1100, 620] }
"""


def write(tmp_path, text: str):
    path = tmp_path / "graph.toml"
    path.write_text(textwrap.dedent(text))
    return path


def line_of(path, fragment: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if fragment in line)


def problems(path, overrides=None) -> list[GraphError]:
    with pytest.raises(GraphError) as info:
        validate(read_graph(path, overrides))
    return list(getattr(info.value, "errors", [info.value]))


def test_params_and_window_are_read_with_groups_and_overrides(tmp_path):
    text = SCOPE.replace(
        '"dev.signals -> scope.signals"]', '"dev.signals -> scope.signals", "dev.signals -> tf.signal"]'
    )
    path = write(
        tmp_path,
        text
        + textwrap.dedent("""
        [nodes.tf]
        type = "QTimeFreq"
        nodegroup = "gui"

        [nodes.tf.params]
        nb_column = 2
        timefreq = { f_stop = 40.0 }
        """),
    )
    spec = read_graph(path, {"scope.params.xsize": 4.0, "tf.params.timefreq.f_start": 6.0})
    validate(spec)  # what `lslacq check` runs: no problem
    assert spec.nodes["scope"].params == {
        ("xsize",): 4.0,
        ("scale_mode",): "by_channel",
        ("refresh_interval",): 20,
        ("first_channel",): 1,
    }
    assert spec.nodes["scope"].window == {"size": [1100, 620]}
    assert spec.nodes["scope"].by_channel_params == {("ch1", "gain"): 0.5, ("ch1", "offset"): 1.0}
    assert spec.nodes["tf"].params == {("nb_column",): 2, ("timefreq", "f_stop"): 40.0, ("timefreq", "f_start"): 6.0}


def test_check_reports_every_bad_param_and_window_with_its_line(tmp_path):
    path = write(
        tmp_path,
        """\
    connections = ["dev.signals -> scope.signals", "dev.signals -> trig.signals"]

    [nodegroups.gui]
    qt = true

    [nodes.dev]
    type = "NumpyDeviceBuffer"
    configure = { nb_channel = 2, sample_interval = 0.001, chunksize = 10 }
    params = { gain = 2 }

    [nodes.trig]
    type = "AnalogTrigger"
    params = { debounce_time = -1.0 }

    [nodes.scope]
    type = "QOscilloscope"
    nodegroup = "gui"
    window = { size = [0, 800] }

    [nodes.scope.params]
    xsize = 2.0
    scale_mode = "by_chanel"
    refresh_interval = 2
    decimate = 1.5
    xsise = 3

    [nodes.scope.by_channel_params]
    Fp1 = { gain = "high" }
    Fp2 = { gian = 2.0 }
    """,
    )
    found = {(p.line, p.reason) for p in problems(path)}
    expected = {
        (
            line_of(path, "gain = 2"),
            "node 'dev': NumpyDeviceBuffer has no online parameters for a params table to "
            "set; remove it (configure arguments go in configure)",
        ),
        (line_of(path, "debounce_time"), "node 'trig': params.debounce_time = -1.0 is out of range [0.0, None]"),
        (
            line_of(path, "size = [0, 800]"),
            "node 'scope': window size = [0, 800] must be [width, height] in "
            "pixels, two whole numbers >= 1 (e.g. [1280, 800])",
        ),
        (
            line_of(path, "by_chanel"),
            "node 'scope': params.scale_mode = 'by_chanel' is not allowed; choose one of "
            "['real_scale', 'same_for_all', 'by_channel']",
        ),
        (line_of(path, "refresh_interval = 2"), "node 'scope': params.refresh_interval = 2 is out of range [5, 1000]"),
        (line_of(path, "decimate = 1.5"), "node 'scope': params.decimate must be an int, got 1.5"),
        (line_of(path, 'gain = "high"'), "node 'scope': by_channel_params.Fp1.gain must be a number, got 'high'"),
        (
            line_of(path, "gian = 2.0"),
            "node 'scope': QOscilloscope has no per-channel parameter 'gian'; did you "
            "mean 'gain'? its per-channel params: gain, offset, visible, color",
        ),
    }
    assert expected <= found
    (misspelt,) = [reason for line, reason in found if line == line_of(path, "xsise")]
    assert misspelt.startswith(
        "node 'scope': QOscilloscope has no parameter 'xsise'; did you mean 'xsize'? its params: xsize, ylim_max,"
    )
    assert len(found) == len(expected) + 1
    assert all(p.path == str(path) for p in problems(path))


def test_a_window_on_a_node_without_one_is_refused(tmp_path):
    path = write(
        tmp_path,
        """\
    [nodes.dev]
    type = "NumpyDeviceBuffer"
    configure = { nb_channel = 2, sample_interval = 0.001, chunksize = 10 }
    window = { size = [640, 480] }
    """,
    )
    (problem,) = problems(path)
    assert problem.line == 4 and "NumpyDeviceBuffer has no window (window is for viewers)" in problem.reason


def test_a_value_the_node_refuses_once_initialized_names_its_line(tmp_path):
    """AnalogTrigger's channel is checked against its input's channels: known only when built."""
    path = write(
        tmp_path,
        """\
    connections = ["dev.signals -> trig.signals"]

    [nodes.dev]
    type = "NumpyDeviceBuffer"
    configure = { nb_channel = 2, sample_interval = 0.001, chunksize = 10 }

    [nodes.trig]
    type = "AnalogTrigger"
    params = { threshold = 0.5, channel = 5 }
    """,
    )
    validate(read_graph(path))  # a channel >= 0: fine for the type
    with pytest.raises(GraphError) as info:
        load_graph(path)
    assert info.value.path == str(path) and info.value.line == line_of(path, "channel = 5")
    assert (
        "node 'trig' (AnalogTrigger): params.channel = 5 refused: ValueError: trig.params['channel'] = 5 "
        "does not exist; the input has 2 channels (0..1)" in info.value.reason
    )
    with load_graph(path, {"trig.params.channel": 1}) as graph:
        assert (graph.nodes["trig"].params["channel"], graph.nodes["trig"].params["threshold"]) == (1, 0.5)


@pytest.mark.slow
def test_a_viewer_in_a_qt_nodegroup_gets_the_files_params_and_window(tmp_path):
    """The remote scope has the file's params before it starts, and draws in a window of the file's size."""
    path = write(tmp_path, SCOPE)
    with load_graph(path) as graph:
        scope = graph.nodes["scope"]
        assert [scope.params[key] for key in ("xsize", "scale_mode", "refresh_interval", "first_channel")] == [
            2.0,
            "by_channel",
            20,
            1,
        ]
        assert (scope.by_channel_params["ch1", "gain"], scope.by_channel_params["ch1", "offset"]) == (0.5, 1.0)
        assert (scope.width(), scope.height()) == (1100, 620)
        graph.start()
        image = scope.grab_array()
        ratio = image.shape[1] / 1100
        assert image.shape[:2] == (round(620 * ratio), round(1100 * ratio))
        assert np.ptp(image[..., :3]) > 0  # something drawn (axes, labels)
