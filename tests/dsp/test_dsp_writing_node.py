"""docs/dsp.md 'Writing a DSP node' runs as written; DspNode applies parameters and reports failures itself."""

from __future__ import annotations

import logging
import pathlib
import re

import numpy as np
import pytest
from helpers import wait_until

import lslacq.dsp
from lslacq.core.stream import OutputStream
from lslacq.dsp import DspNode, Param

DOC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "dsp.md"


def _section_code(title: str) -> list[str]:
    text = DOC.read_text()
    section = text.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_writing_a_dsp_node_example_runs():
    blocks = _section_code("Writing a DSP node")
    assert len(blocks) == 2
    namespace: dict = {}
    exec(compile(blocks[0] + blocks[1], str(DOC), "exec"), namespace)  # noqa: S102 - the documented example
    index, data = namespace["first"]
    assert index == 10 and data.dtype == np.float32
    np.testing.assert_array_equal(data, np.full((10, 2), 2.0))
    index, data = namespace["second"]
    assert index == 15
    np.testing.assert_array_equal(data, np.full((5, 2), -1.0))
    assert namespace["gain"].error is None and namespace["gain"].closed()


def test_dsp_node_is_public():
    assert lslacq.dsp.DspNode is DspNode
    assert "DspNode" in dir(lslacq.dsp)


class _Recorder(DspNode):
    """Two inputs, one parameter: records what each _process call saw."""

    _input_specs = {"a": {}, "b": {}}
    _param_decl = (Param("k", 0, int),)

    def _configure(self, **params):
        self._configure_params(params)
        self.applied: list[int] = []
        self.seen: list[tuple[str, int, int]] = []
        self.k = None

    def _apply_params(self, params):
        self.applied.append(params["k"])
        self.k = params["k"]

    def _process(self, input_name, index, data):
        if data[0, 0] < 0:
            raise ValueError(f"negative sample at {index}")
        self.seen.append((input_name, index, self.k))


@pytest.fixture
def outputs():
    outs = {}
    for name in ("a", "b"):
        outs[name] = OutputStream(name=name)
        outs[name].configure(protocol="inproc", dtype="float32", shape=(-1, 1))
    yield outs
    for out in outs.values():
        out.close()


def test_params_are_applied_once_before_the_next_chunk_of_any_input(outputs):
    node = _Recorder(name="rec")
    node.configure(k=1)
    for name, out in outputs.items():
        node.inputs[name].connect(out)
    node.initialize()
    node.start()
    try:
        outputs["a"].send(np.ones((3, 1), "float32"))
        assert wait_until(lambda: len(node.seen) == 1)
        node.params["k"] = 5
        outputs["b"].send(np.ones((4, 1), "float32"))
        outputs["a"].send(np.ones((2, 1), "float32"))
        assert wait_until(lambda: len(node.seen) == 3)
    finally:
        node.stop()
    assert node.applied == [5]  # configure() values are not re-applied; the change once, in a processing thread
    assert node.seen[0] == ("a", 3, None) and sorted(node.seen[1:]) == [("a", 5, 5), ("b", 4, 5)]
    node.close()


def test_process_failure_goes_through_the_node_contract_once(outputs, caplog):
    node = _Recorder(name="rec")
    node.configure()
    for name, out in outputs.items():
        node.inputs[name].connect(out)
    node.initialize()
    failures = []
    node.failed.connect(failures.append)
    node.start()
    with caplog.at_level(logging.ERROR):
        outputs["a"].send(-np.ones((1, 1), "float32"))
        outputs["b"].send(-np.ones((1, 1), "float32"))  # both input threads fail: reported once
        assert wait_until(lambda: not any(p.is_alive() for p in node.workers))
    node.stop()
    assert isinstance(node.error, ValueError) and failures == [node.error]
    records = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(records) == 1 and "node 'rec'" in records[0].getMessage()
    node.close()
