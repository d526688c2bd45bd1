"""API rough edges a newcomer meets in the first hour: each error names what is accepted."""

from __future__ import annotations

import pytest

from lslacq.core import registry
from lslacq.core.configargs import Arg, accepted_arguments, check_arguments
from lslacq.core.node import Node


def test_lsl_outlet_configure_lists_its_arguments_and_checks_their_types():
    from lslacq_lsl import LslOutlet

    outlet = LslOutlet(name="out")
    try:
        with pytest.raises(
            TypeError,
            match=r"has no argument 'stream_name'; did you mean 'name'\? its arguments: "
            r"name, type, source_id",
        ):
            outlet.configure(stream_name="x")
        with pytest.raises(TypeError, match=r"out: name must be a string, got 5 \(int\)"):
            outlet.configure(name=5)
        with pytest.raises(ValueError, match="marker_format = 'str' is not one of"):
            outlet.configure(marker_format="str")
        outlet.configure(name="fine", chunk_size=0, nominal_srate=250)  # an int is a fine float
    finally:
        outlet.close()


def test_every_node_type_names_its_arguments_when_given_an_unknown_one():
    checked = 0
    for type_name in registry.list_node_types():
        cls = registry.get_node_type(type_name)
        accepted, any_keyword = accepted_arguments(cls)
        if any_keyword:
            continue  # the node checks its own keywords (tested with each node)
        (problem,) = [p for p in check_arguments(cls, {"zzz_unknown": 1}) if p.kind == "unknown"]
        assert f"its arguments: {', '.join(accepted) or 'none'}" in problem.message, type_name
        checked += 1
    assert checked >= 15


def test_several_problems_of_one_configure_call_are_raised_together():
    class Box(Node):
        configure_args = {"size": Arg(int, ge=1), "label": Arg(str)}

        def _configure(self, size: int = 1, label: str = "x", needed=None) -> None:
            self.size = size

    box = Box(name="box")
    with pytest.raises(TypeError) as info:
        box.configure(size=0, label=3, colour="red")
    text = str(info.value)
    assert text.startswith("box: ")
    assert "size must be >= 1, got 0" in text and "label must be a string, got 3" in text
    assert "has no argument 'colour'" in text
    box.configure(size=2)
    assert box.size == 2
    box.close()


def test_devices_exports_every_device_node_of_the_package():
    import importlib.metadata

    import lslacq.devices as devices
    from lslacq.devices import SimulatedEEG  # noqa: F401  (raised ImportError)

    for ep in importlib.metadata.entry_points(group="lslacq.nodes"):
        module, _, name = ep.value.partition(":")
        if module.startswith("lslacq.devices."):
            assert name in devices.__all__, name
            assert getattr(devices, name) is ep.load()


def test_sosfilter_given_b_a_says_how_to_get_sections():
    from lslacq.dsp import SosFilter

    filt = SosFilter(name="filt")
    with pytest.raises(
        ValueError,
        match=r"got \(2, 5\); this looks like a \(b, a\) transfer function.*"
        r"output='sos'.*tf2sos\(b, a\)",
    ):
        filt.configure(coefficients=([0.1, 0.2, 0.3, 0.2, 0.1], [1.0, -0.5, 0.2, 0.1, 0.01]))
    with pytest.raises(TypeError, match="this looks like a .b, a. transfer function"):  # b and a of two lengths
        filt.configure(coefficients=([0.2, 0.4, 0.2], [1.0, -0.5, 0.2, 0.1]))
    filt.close()


def test_create_node_rejects_a_misspelt_constructor_argument():
    from lslacq.core.nodegroup import NodeGroup

    group = NodeGroup(name="g")
    with pytest.raises(
        TypeError,
        match=r"NumpyDeviceBuffer\(\) got unexpected keyword arguments \['nam'\] "
        r"\(did you mean 'name'\?\); it takes name, parent",
    ):
        group.create_node("NumpyDeviceBuffer", nam="x")
    node = group.create_node("NumpyDeviceBuffer", name="x")
    assert node.name == "x"
    group.close()


def test_health_keys_nodes_by_the_names_given():
    from lslacq.core.nodegroup import NodeGroup

    group = NodeGroup(name="g")
    group.create_node("NumpyDeviceBuffer", name="dev")
    group.create_node("NumpyDeviceBuffer", name="dev")  # a second one of the same name
    group.create_node("NumpyDeviceBuffer")  # no name: the type's
    try:
        assert sorted(group.health()["nodes"]) == ["NumpyDeviceBuffer", "dev", "dev#2"]
    finally:
        group.close()


@pytest.mark.slow
def test_manager_health_keys_remote_nodes_by_name():
    import lslacq

    manager = lslacq.create_manager(auto_close_at_exit=False)
    try:
        group = manager.create_nodegroup(name="acq")
        group.create_node("NumpyDeviceBuffer", name="dev")
        assert list(manager.health()["acq"]["nodes"]) == ["dev"]
    finally:
        manager.close()


def test_stop_after_the_node_was_closed_does_nothing():
    from lslacq.devices import NumpyDeviceBuffer

    dev = NumpyDeviceBuffer(name="dev")
    dev.configure(nb_channel=2)
    dev.output.configure(protocol="inproc")
    dev.initialize()
    dev.start()
    dev.close()  # what closing a viewer's window does
    dev.stop()  # pyacq scripts: app.exec_(); viewer.stop()
    assert dev.closed() and not dev.running()


def test_viewer_stop_after_its_window_closed_it():
    pytest.importorskip("pyqtgraph")
    from lslacq.devices import NumpyDeviceBuffer
    from lslacq.viewers import QOscilloscope
    from lslacq.viewers._qt import mkQApp

    app = mkQApp()
    dev = NumpyDeviceBuffer(name="dev")
    dev.configure(nb_channel=2, chunksize=10)
    dev.output.configure(protocol="inproc")
    dev.initialize()
    viewer = QOscilloscope(name="scope")
    viewer.configure(with_user_dialog=False)
    viewer.input.connect(dev.output)
    viewer.initialize()
    viewer.show()
    viewer.start()
    dev.start()
    app.processEvents()
    viewer.window().close()  # the user closes the window: app.exec_() returns
    app.processEvents()
    viewer.stop()
    dev.stop()
    dev.close()
    assert viewer.closed()
