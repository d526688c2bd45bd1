"""PyAudio node on real PortAudio, with a JACK dummy server as the sound card (tests/devices/jack_rig.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import pytest
from helpers import wait_until
from jack_rig import RATE, jack_server_fixture  # noqa: F401  (the session fixture 'jack_server')

pytest.importorskip("pyaudio")

from lslacq.core.stream import InputStream  # noqa: E402
from lslacq.devices import NumpyDeviceBuffer  # noqa: E402
from lslacq.devices.audio_pyaudio import (  # noqa: E402
    AudioDeviceError,
    PlaybackFifo,
    PyAudio,
    default_input_device,
    list_device_specs,
)

FREQ = 440.0


def _collect(inp: InputStream, n_samples: int, timeout: float = 30.0) -> np.ndarray:
    chunks = []

    def collected():
        if inp.poll(timeout=200):
            chunks.append(np.array(inp.recv()[1]))
        return sum(map(len, chunks)) >= n_samples

    wait_until(collected, timeout=timeout, interval=0, what=f"{n_samples} samples")
    return np.concatenate(chunks)


def _sine_source(amplitude: float, dtype: str) -> NumpyDeviceBuffer:
    """A paced 2-channel 440 Hz sine (one second loops seamlessly: 440 whole periods)."""
    t = np.arange(RATE) / RATE
    wave = (amplitude * np.sin(2 * np.pi * FREQ * t)).astype(dtype)
    src = NumpyDeviceBuffer(name="sine")
    src.configure(nb_channel=2, sample_interval=1 / RATE, chunksize=441, buffer=np.stack([wave, wave], axis=1))
    src.output.configure(protocol="inproc")
    return src


def _peak_frequency(x: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / RATE)[np.argmax(spectrum)])


@pytest.mark.slow
def test_lists_the_jack_device(jack_server):
    specs = list_device_specs()
    system = next(d for d in specs if d["name"] == "system")
    assert system["hostApiName"] == "JACK Audio Connection Kit"
    assert system["maxInputChannels"] == 2 and system["maxOutputChannels"] == 2
    assert system["defaultSampleRate"] == RATE
    with PyAudio() as node:  # pyacq's examples query an unconfigured node
        assert node.default_input_device() == system["index"] == default_input_device()
        assert node.default_output_device() == system["index"]
        assert [d["name"] for d in node.list_device_specs()] == [d["name"] for d in specs]


@pytest.mark.slow
@pytest.mark.parametrize(("fmt", "amplitude"), [("int16", 8000), ("float32", 0.5)])
def test_full_duplex_loopback_records_what_it_plays(jack_server, fmt, amplitude):
    src = _sine_source(amplitude, fmt)
    card = PyAudio(name="card")
    inp = InputStream()
    try:
        index = card.default_input_device()
        card.configure(
            nb_channel=2,
            sample_rate=RATE,
            input_device_index=index,
            output_device_index=index,
            format=fmt,
            chunksize=1024,
        )
        card.output.configure(protocol="inproc")
        card.input.connect(src.output)
        src.initialize()
        card.initialize()
        assert card.output.params.dtype == np.dtype(fmt) and card.output.params.sample_rate == RATE
        inp.connect(card.output)
        card.start()
        src.start()
        jack_server.loopback()  # PortAudio:out_N -> PortAudio:in_N
        _collect(inp, RATE // 2)  # let the loop settle
        data = _collect(inp, RATE).astype(np.float64)[-RATE:]
        counters = card.counters()
    finally:
        src.close()
        card.close()
        inp.close()
    assert card.error is None
    for ch in range(2):
        assert abs(_peak_frequency(data[:, ch]) - FREQ) <= 1.0
        # played once, recorded once. On a loaded machine an xrun may drop a block (silence
        # there), so use the peak and the median of per-block RMS, which such gaps do not move
        assert np.abs(data[:, ch]).max() == pytest.approx(amplitude, rel=0.02)
        block_rms = np.sqrt(np.mean(data[: RATE // 1024 * 1024, ch].reshape(-1, 1024) ** 2, axis=1))
        assert np.median(block_rms) == pytest.approx(amplitude / np.sqrt(2), rel=0.03)
    assert counters["frames_played"] >= RATE and counters["samples_out"] >= 1.5 * RATE
    assert counters["last_index"] == counters["samples_out"] and counters["lost_samples"] == 0


@pytest.mark.slow
def test_record_only_indexes_are_continuous_and_restart(jack_server):
    card = PyAudio(name="mic")
    inp = InputStream()
    try:
        card.configure(nb_channel=1, sample_rate=RATE, input_device_index=card.default_input_device(), chunksize=512)
        assert "signals" not in card.inputs  # recording only: no input, as in pyacq
        card.output.configure(protocol="inproc")
        card.initialize()
        inp.connect(card.output)
        for _ in range(2):  # start/stop twice: each run starts at index 0
            card.start()
            data = _collect(inp, 4096)
            card.stop()
            assert data.dtype == np.int16 and data.shape[1] == 1
            assert not data.any()  # the dummy card records silence
            assert card.counters()["samples_out"] == card.output.last_index >= 4096
            assert card.output.last_index % 512 == 0
            while inp.poll(timeout=200):
                inp.recv()
    finally:
        card.close()
        inp.close()


@pytest.mark.slow
def test_playback_starvation_is_counted(jack_server):
    src = _sine_source(0.1, "float32")
    card = PyAudio(name="speaker")
    try:
        card.configure(
            nb_channel=2, sample_rate=RATE, output_device_index=card.default_output_device(), format="float32"
        )
        assert "signals" not in card.outputs  # playing only: no output
        card.input.connect(src.output)
        src.initialize()
        card.initialize()
        card.start()
        src.start()
        wait_until(
            lambda: card.counters()["frames_played"] >= RATE // 2, timeout=30, interval=0.05, what="0.5 s played"
        )
        src.stop()  # the source stops: the card plays silence, counted
        wait_until(
            lambda: card.counters()["starved_frames"] >= 4096, timeout=30, interval=0.05, what="4096 starved frames"
        )
    finally:
        src.close()
        card.close()
    assert card.error is None


def test_bad_configuration_errors_name_the_devices(jack_server):
    with PyAudio(name="card") as card:
        index = card.default_input_device()
        with pytest.raises(
            AudioDeviceError,
            match=r"refuses input at sample_rate=48000.*Invalid sample rate.*"
            r"default rate of 44100 Hz.*Devices: 0<>: system \(JACK",
        ):
            card.configure(nb_channel=2, sample_rate=48000, input_device_index=index)
        with pytest.raises(AudioDeviceError, match=r"refuses output .*nb_channel=3.*Invalid number of channels"):
            card.configure(nb_channel=3, sample_rate=RATE, output_device_index=index)
        with pytest.raises(AudioDeviceError, match=r"input_device_index=7 is not a device index; devices: 0<>: system"):
            card.configure(sample_rate=RATE, input_device_index=7)
        for bad in (True, "mic", 0.5):
            with pytest.raises(AudioDeviceError, match=rf"output_device_index={bad!r} is not a device index"):
                card.configure(sample_rate=RATE, output_device_index=bad)
        with pytest.raises(ValueError, match=r"format='int8' is not supported; use one of \['int16', 'int32'"):
            card.configure(sample_rate=RATE, input_device_index=index, format="int8")
        with pytest.raises(ValueError, match="give input_device_index"):
            card.configure(sample_rate=RATE)
        src = _sine_source(0.5, "float32")
        try:
            card.configure(nb_channel=2, sample_rate=RATE, output_device_index=index, format="int16")
            with pytest.raises(ValueError, match=r"carries float32 chunks.*needs int16.*format='float32'"):
                card.input.connect(src.output)
        finally:
            src.close()


def test_callback_failure_reaches_the_node_contract(jack_server):
    card = PyAudio(name="mic")
    failures = []
    card.failed.connect(failures.append)
    try:
        card.configure(nb_channel=2, sample_rate=RATE, input_device_index=card.default_input_device())
        card.output.configure(protocol="inproc")
        card.initialize()

        def broken_send(data, index):
            raise RuntimeError("disk full")

        card._send = broken_send
        card.start()
        wait_until(lambda: card.error is not None, timeout=20, interval=0.02, what="the card's error")
    finally:
        card.close()
    assert isinstance(card.error, RuntimeError) and failures == [card.error]


def test_no_device_is_a_clear_error():
    """Without any sound server PortAudio lists no device (on this kind of machine): say how to get one."""
    code = (
        "from lslacq.devices.audio_pyaudio import PyAudio, list_device_specs\n"
        "import sys\n"
        "if list_device_specs(): print('HAS-DEVICES'); sys.exit(0)\n"
        "PyAudio().configure(input_device_index=0)\n"
    )
    env = dict(os.environ, JACK_DEFAULT_SERVER="lslacq-no-such-server", JACK_NO_START_SERVER="1")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    if "HAS-DEVICES" in result.stdout:
        pytest.skip("this machine has an audio device without JACK")
    assert result.returncode == 1
    assert "AudioDeviceError" in result.stderr and "PortAudio sees no audio device" in result.stderr
    assert "jack-dummy" in result.stderr


def test_playback_fifo_pads_and_waits():
    fifo = PlaybackFifo(frame_bytes=4, max_frames=4)
    assert fifo.read(2) == bytes(8) and fifo.starved_frames == 0  # nothing written yet: not starved
    assert fifo.write(b"\x01" * 12) and fifo.write(b"\x02" * 4) and fifo.queued_frames == 4
    assert not fifo.write(b"\x03" * 8, timeout=0.05)  # full: waits, then gives up
    assert fifo.read(5) == b"\x01" * 12 + b"\x02" * 4 + bytes(4) and fifo.starved_frames == 1
    with pytest.raises(ValueError, match="not a whole number of 4-byte frames"):
        fifo.write(b"abc")


@pytest.mark.slow
def test_bridge_audio_command_publishes_the_microphone_on_lsl(jack_server):
    pylsl = pytest.importorskip("pylsl")
    from lslacq_lsl import resolve_stream

    name = f"lslacq-test-audio-{os.getpid()}-{time.monotonic_ns() % 10**6}"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lslacq.cli",
            "bridge",
            "audio",
            "--channels",
            "2",
            "--name",
            name,
            "--duration",
            "30",
            "--interval",
            "0.5",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    try:
        line = proc.stdout.readline()
        assert f"as LSL streams {name!r} (Audio" in line, line + proc.stderr.read()
        info = resolve_stream(name=name, timeout=20)
        assert info.channel_count() == 2 and info.nominal_srate() == RATE
        assert info.channel_format() == pylsl.cf_int16
        inlet = pylsl.StreamInlet(info)
        try:
            pulled = []

            def half_a_second(inlet):  # inlet passed in: the finally block deletes the name
                chunk, _ = inlet.pull_chunk(timeout=1.0)
                assert not np.asarray(chunk).any()  # the dummy card's silence
                pulled.append(len(chunk))
                return sum(pulled) >= RATE // 2

            wait_until(lambda i=inlet: half_a_second(i), timeout=30, interval=0, what="0.5 s of samples through pylsl")
        finally:
            inlet.close_stream()
            del inlet
        assert "samples" in proc.stdout.readline()  # the status line
        proc.terminate()  # SIGTERM: a clean stop
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


@pytest.mark.slow
def test_remote_nodegroup_records_and_feeds_an_lsl_outlet(jack_server):
    """Manual 6.5: ng.create_node('PyAudio') in another process.

    Its output is read here over tcp and published on LSL by an LslOutlet in the same nodegroup.
    """
    pytest.importorskip("pylsl")
    from lslacq import create_manager
    from lslacq_lsl import resolve_stream

    name = f"lslacq-test-remote-audio-{os.getpid()}"
    manager = create_manager()
    inp = InputStream()
    try:
        ng = manager.create_nodegroup("audio")
        dev = ng.create_node("PyAudio", name="mic")
        default_input = dev.default_input_device()
        assert any(d["name"] == "system" for d in dev.list_device_specs())
        dev.configure(
            nb_channel=1, sample_rate=44100.0, input_device_index=default_input, format="int16", chunksize=1024
        )
        dev.output.configure(protocol="tcp", interface="127.0.0.1", transfermode="plaindata")
        dev.initialize()
        outlet = ng.create_node("LslOutlet", name="lsl-mic")
        outlet.configure(name=name, type="Audio")
        outlet.inputs["signals"].connect(dev.output)
        outlet.initialize()
        inp.connect(dev.output)
        outlet.start()
        dev.start()
        data = _collect(inp, 8192)
        info = resolve_stream(name=name, timeout=20)
        assert info.channel_count() == 1 and info.nominal_srate() == RATE and info.type() == "Audio"
        wait_until(
            lambda: outlet.n_pushed >= 8192,
            timeout=30,
            interval=0.05,
            what="8192 samples the remote LslOutlet published",
        )
        dev.stop()
        assert data.shape[1] == 1 and data.dtype == np.int16
        assert dev.counters()["samples_out"] >= 8192 and dev.error is None and outlet.error is None
    finally:
        inp.close()
        manager.close()


@pytest.mark.slow
def test_devices_list_command_shows_the_jack_card(jack_server, capsys):
    import json

    from lslacq.cli import main

    assert main(["devices", "list", "--audio"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert (
        "audio 0: system (JACK Audio Connection Kit) 2 in / 2 out, 44100 Hz  [default input, default output]" in lines
    )
    assert main(["devices", "list", "--audio", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    system = next(r for r in rows if r["name"] == "system")
    assert system["kind"] == "audio" and system["inputs"] == 2 and system["default_input"] is True


@pytest.mark.slow
def test_jack_dummy_command_runs_and_stops(jack_server):
    name = f"lslacq-cmd-{os.getpid()}"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "lslacq.cli",
            "devices",
            "jack-dummy",
            "--name",
            name,
            "--rate",
            "48000",
            "--duration",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert f"JACK dummy server {name!r}" in result.stdout and "at 48000 Hz" in result.stdout


EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "examples")


@pytest.mark.slow
def test_microphone_to_lsl_example(jack_server):
    pytest.importorskip("pylsl")
    name = f"lslacq-test-mic-{os.getpid()}"
    result = subprocess.run(
        [sys.executable, os.path.join(EXAMPLES, "microphone_to_lsl.py"), "--duration", "2", "--name", name],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert " * 0: system (44100 Hz)" in result.stdout
    assert f"as LSL stream {name!r}" in result.stdout
    published = [int(n) for n in __import__("re").findall(r"(\d+) samples published", result.stdout)]
    assert published and published[-1] >= RATE  # two seconds of a 44.1 kHz card, less start-up


@pytest.mark.slow
def test_manual_oscilloscope_example_with_pyaudio(jack_server):
    """The manual's 6.7 (examples/audio_oscilloscope_local.py) with its PyAudio device, headless."""
    pytest.importorskip("pyqtgraph")
    script = os.path.join(EXAMPLES, "audio_oscilloscope_local.py")
    if not os.path.exists(script):
        pytest.skip("examples/audio_oscilloscope_local.py is not there")
    result = subprocess.run(
        [sys.executable, script, "--pyaudio", "--duration", "1.5"],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, QT_QPA_PLATFORM="offscreen"),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    match = __import__("re").search(r"samples received: (\d+), lost: 0", result.stdout)
    assert match and int(match.group(1)) >= 1024, result.stdout


@pytest.mark.slow
def test_xruns_are_counted_and_logged(jack_server, caplog):
    """A callback that misses its deadline (here: a send that takes 60 ms, over two JACK periods) is an xrun.

    PortAudio flags it, the node counts it and logs a warning (from its monitor thread).
    """
    card = PyAudio(name="mic")
    inp = InputStream()
    try:
        card.configure(nb_channel=2, sample_rate=RATE, input_device_index=card.default_input_device())
        card.output.configure(protocol="inproc")
        card.initialize()
        inp.connect(card.output)
        send, calls = card._send, [0]

        def slow_send(data, index):
            calls[0] += 1
            if calls[0] in (5, 10, 15):
                time.sleep(0.06)
            send(data, index=index)

        card._send = slow_send
        with caplog.at_level("WARNING", logger="lslacq.devices.audio_pyaudio"):
            card.start()
            wait_until(lambda: card.counters()["input_overflows"], timeout=30, interval=0.05, what="an input overflow")
            card.stop()
    finally:
        card.close()
        inp.close()
    assert card.error is None
    assert any(
        "input overflows" in r.getMessage() and "recorded samples were lost" in r.getMessage() for r in caplog.records
    )
