"""Audio and video device nodes against the bare libraries, measured in the same run.

Cases
-----
* audio: PyAudio 2 ch int16 at 48 kHz, chunksize 256, recording from a JACK
  dummy server (jackd -d dummy -r 48000 -p 256, started here). Baseline: a
  process with a bare PyAudio callback stream doing the same reads
  (``np.frombuffer`` of every block, counted). Node: a process with the
  :class:`lslacq.devices.PyAudio` node sending every block on a tcp output
  that this process reads (an InputStream in another process, as in a
  distributed graph). Reported: CPU of each process (% of one core) and the
  ratio node / bare (target <= 1.3), the same for a bare callback that also
  sends each block with a raw pyzmq PUB socket (what any cross-process send
  costs at 188 messages/s), samples lost (index gaps seen by the
  reader), and the latency from the node's send in the audio callback to
  the chunk's arrival in the reader process (median, 99th percentile).
* video: 1280x720 at 30 fps from lavfi (``testsrc2``, YUV 4:2:0 like a camera,
  paced by the ``realtime`` filter). Baseline: a process decoding with PyAV
  and converting every frame to an RGB ndarray. Node: a process with
  :class:`lslacq.devices.WebCamAV` sending each frame to a reader in this
  process (``sharedmem``: one copy of each frame, the transfer mode meant for
  video between processes; ``--video-transfer plaindata`` for tcp). Reported: CPU of each
  process and the ratio (target <= 1.2), frames received and frames lost
  (target 0; the full run streams 60 s).

Processes run one at a time, bare and node alternating over ``--rounds``, so
machine load affects both alike; the medians are reported.

Usage: python benchmarks/devices.py [--quick] [--case audio|video|all] [--seconds S] [--rounds N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time

import numpy as np

AUDIO_RATE, AUDIO_CHANNELS, AUDIO_CHUNK = 48000, 2, 256
VIDEO_URL = "testsrc2=size=1280x720:rate=30,realtime"
WARMUP = 1.0


# -- workers (run in child processes) -----------------------------------------------------------
def _measure(seconds: float) -> tuple[float, float]:
    """Sleep ``seconds`` after a warm-up; return (cpu seconds of this process, wall seconds)."""
    time.sleep(WARMUP)
    c0, t0 = time.process_time(), time.perf_counter()
    time.sleep(seconds)
    return time.process_time() - c0, time.perf_counter() - t0


def _emit(obj: dict) -> None:
    print(json.dumps(obj), flush=True)


def worker_audio_bare(seconds: float) -> None:
    import pyaudio

    pa = pyaudio.PyAudio()
    count = [0, 0]

    def callback(in_data, frame_count, time_info, status):
        data = np.frombuffer(in_data, dtype=np.int16).reshape(frame_count, AUDIO_CHANNELS)
        count[0] += data.shape[0]
        count[1] += bool(status & pyaudio.paInputOverflow)
        return None, pyaudio.paContinue

    stream = pa.open(
        rate=AUDIO_RATE,
        channels=AUDIO_CHANNELS,
        format=pyaudio.paInt16,
        input=True,
        frames_per_buffer=AUDIO_CHUNK,
        stream_callback=callback,
        start=True,
    )
    cpu, wall = _measure(seconds)
    stream.stop_stream()
    stream.close()
    pa.terminate()
    _emit(dict(cpu=cpu, wall=wall, samples=count[0], overflows=count[1]))


def worker_audio_zmq(seconds: float) -> None:
    """Run the bare callback plus a raw pyzmq PUB send of each block: the floor of any cross-process audio node."""
    import pyaudio
    import zmq

    pub = zmq.Context.instance().socket(zmq.PUB)
    pub.setsockopt(zmq.LINGER, 0)
    port = pub.bind_to_random_port("tcp://127.0.0.1")
    _emit(dict(zmq_port=port))
    sys.stdin.readline()
    time.sleep(0.3)  # the subscription reaches the PUB socket
    pa = pyaudio.PyAudio()
    count = [0, 0]

    def callback(in_data, frame_count, time_info, status):
        data = np.frombuffer(in_data, dtype=np.int16).reshape(frame_count, AUDIO_CHANNELS)
        count[0] += data.shape[0]
        count[1] += bool(status & pyaudio.paInputOverflow)
        pub.send(count[0].to_bytes(8, "little"), zmq.SNDMORE)
        pub.send(data, copy=False)
        return None, pyaudio.paContinue

    stream = pa.open(
        rate=AUDIO_RATE,
        channels=AUDIO_CHANNELS,
        format=pyaudio.paInt16,
        input=True,
        frames_per_buffer=AUDIO_CHUNK,
        stream_callback=callback,
        start=True,
    )
    cpu, wall = _measure(seconds)
    stream.stop_stream()
    stream.close()
    pa.terminate()
    pub.close()
    _emit(dict(cpu=cpu, wall=wall, samples=count[0], overflows=count[1]))


def worker_audio_node(seconds: float) -> None:
    from lslacq.devices.audio_pyaudio import PyAudio

    node = PyAudio(name="bench-audio")
    node.configure(
        nb_channel=AUDIO_CHANNELS,
        sample_rate=AUDIO_RATE,
        input_device_index=node.default_input_device(),
        format="int16",
        chunksize=AUDIO_CHUNK,
    )
    node.output.configure(protocol="tcp", interface="127.0.0.1", transfermode="plaindata")
    node.initialize()
    sent: list[tuple[int, float]] = []
    send = node._send

    def timed_send(data, index):  # the send time of each block, for the latency (~1 us per block)
        sent.append((index, time.time()))
        send(data, index=index)

    node._send = timed_send
    _emit(dict(params=node.output.params.to_dict()))
    sys.stdin.readline()  # the reader is connected
    node.start()
    cpu, wall = _measure(seconds)
    node.stop()
    counters = node.counters()
    node.close()
    _emit(dict(cpu=cpu, wall=wall, samples=counters["samples_out"], overflows=counters["input_overflows"], sent=sent))


def worker_video_bare(seconds: float) -> None:
    import av

    container = av.open(VIDEO_URL, format="lavfi")
    stream = container.streams.video[0]
    stop = threading.Event()
    count = [0]

    def run():
        for frame in container.decode(stream):
            frame.to_ndarray(format="rgb24")
            count[0] += 1
            if stop.is_set():
                break

    thread = threading.Thread(target=run)
    thread.start()
    cpu, wall = _measure(seconds)
    stop.set()
    thread.join()
    container.close()
    _emit(dict(cpu=cpu, wall=wall, frames=count[0]))


def worker_video_node(seconds: float, transfer: str) -> None:
    from lslacq.devices.webcam_av import WebCamAV

    node = WebCamAV(name="bench-video")
    node.configure(url=VIDEO_URL, format="lavfi")
    options = dict(protocol="tcp", interface="127.0.0.1", transfermode=transfer)
    if transfer == "sharedmem":
        options["buffer_size"] = 64  # frames; one copy of each into shared memory
    node.output.configure(**options)
    node.initialize()
    _emit(dict(params=node.output.params.to_dict()))
    sys.stdin.readline()
    node.start()
    cpu, wall = _measure(seconds)
    node.stop()
    counters = node.counters()
    node.close()
    _emit(dict(cpu=cpu, wall=wall, frames=counters["frames"], dropped=counters["dropped_frames"]))


# -- orchestration ---------------------------------------------------------------------------------
class Reader(threading.Thread):
    """Reads a worker's output here: counts samples, index gaps and arrival times."""

    def __init__(self, params: dict):
        super().__init__(daemon=True)
        from lslacq.core.stream import InputStream

        self.inp = InputStream()
        self.inp.connect(params)
        self.stop_event = threading.Event()
        self.n = self.lost = 0
        self.last = None
        self.arrivals: dict[int, float] = {}

    def run(self) -> None:
        from lslacq.errors import StreamClosedError

        while not self.stop_event.is_set():
            if not self.inp.poll(timeout=100):
                continue
            try:
                pos, data = self.inp.recv(return_data=True)
            except StreamClosedError:  # the worker closed its node: the end
                return
            now = time.time()
            n = len(data)
            if self.last is not None and pos - n != self.last:
                self.lost += pos - n - self.last
            self.last = pos
            self.n += n
            self.arrivals[pos] = now

    def close(self) -> None:
        self.stop_event.set()
        self.join(10)
        self.inp.close()


def run_worker(kind: str, seconds: float, transfer: str = "plaindata") -> dict:
    cmd = [
        sys.executable,
        os.path.abspath(__file__),
        "--worker",
        kind,
        "--seconds",
        str(seconds),
        "--video-transfer",
        transfer,
    ]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    reader = sub = None
    try:
        first = json.loads(proc.stdout.readline())
        if "zmq_port" in first:
            import zmq

            sub = zmq.Context.instance().socket(zmq.SUB)
            sub.setsockopt(zmq.LINGER, 0)
            sub.setsockopt(zmq.SUBSCRIBE, b"")
            sub.connect(f"tcp://127.0.0.1:{first['zmq_port']}")
            stop = threading.Event()

            def drain():
                while not stop.is_set():
                    if sub.poll(100):
                        sub.recv_multipart()

            drainer = threading.Thread(target=drain, daemon=True)
            drainer.start()
            proc.stdin.write("go\n")
            proc.stdin.flush()
            result = json.loads(proc.stdout.readline())
            stop.set()
            drainer.join(10)
        elif "params" in first:
            reader = Reader(first["params"])
            reader.start()
            proc.stdin.write("go\n")
            proc.stdin.flush()
            result = json.loads(proc.stdout.readline())
            time.sleep(0.5)  # the last chunks in flight
        else:
            result = first
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if reader is not None:
            reader.close()
        if sub is not None:
            sub.close()
    if reader is not None:
        result.update(received=reader.n, lost=reader.lost)
        sent = result.pop("sent", None)
        if sent:
            latencies = [reader.arrivals[i] - t for i, t in sent if i in reader.arrivals]
            result["latency_ms"] = (1000 * float(np.median(latencies)), 1000 * float(np.percentile(latencies, 99)))
    result["cpu_pct"] = 100 * result["cpu"] / result["wall"]
    return result


def bench_audio(seconds: float, rounds: int) -> None:
    from lslacq.devices.emulators.jack import JackDummyServer

    print(
        f"audio: PyAudio {AUDIO_CHANNELS} ch int16 {AUDIO_RATE} Hz chunksize {AUDIO_CHUNK} from a JACK dummy "
        f"server, {seconds:g} s x {rounds} rounds"
    )
    with JackDummyServer(rate=AUDIO_RATE, period=AUDIO_CHUNK):
        bare, raw, node = [], [], []
        for _ in range(rounds):
            bare.append(run_worker("audio-bare", seconds))
            raw.append(run_worker("audio-zmq", seconds))
            node.append(run_worker("audio-node", seconds))
    b = statistics.median(r["cpu_pct"] for r in bare)
    z = statistics.median(r["cpu_pct"] for r in raw)
    n = statistics.median(r["cpu_pct"] for r in node)
    print(f"  bare PyAudio callback          : {b:5.2f} % CPU   ({bare[-1]['samples']} samples in the last round)")
    print(f"  bare callback + raw pyzmq send : {z:5.2f} % CPU   ratio {z / b:.2f} (the floor of a cross-process send)")
    print(
        f"  PyAudio node -> tcp            : {n:5.2f} % CPU   ratio {n / b:.2f} (target <= 1.3), "
        f"{n / z:.2f} against the raw pyzmq send"
    )
    lat = [r["latency_ms"] for r in node if "latency_ms" in r]
    print(
        f"  node: samples sent {node[-1]['samples']}, received by the reader process {node[-1]['received']}, "
        f"lost {sum(r['lost'] for r in node)}"
    )
    print(
        f"  input overflows reported by PortAudio (machine load): bare {sum(r['overflows'] for r in bare)}, "
        f"bare + pyzmq {sum(r['overflows'] for r in raw)}, node {sum(r['overflows'] for r in node)}"
    )
    if lat:
        print(
            f"  latency send -> other process: median {statistics.median(x[0] for x in lat):.2f} ms, "
            f"p99 {max(x[1] for x in lat):.2f} ms"
        )


def bench_video(seconds: float, rounds: int, transfer: str, loss_seconds: float) -> None:
    print(
        f"video: {VIDEO_URL} (lavfi, PyAV {__import__('av').__version__}), {seconds:g} s x {rounds} rounds; node "
        f"-> reader process over {transfer}"
    )
    bare, node = [], []
    for _ in range(rounds):
        bare.append(run_worker("video-bare", seconds))
        node.append(run_worker("video-node", seconds, transfer))
    b = statistics.median(r["cpu_pct"] for r in bare)
    n = statistics.median(r["cpu_pct"] for r in node)
    print(f"  bare PyAV decode + rgb24: {b:5.1f} % CPU ({bare[-1]['frames']} frames in the last round)")
    print(f"  WebCamAV node          : {n:5.1f} % CPU   ratio {n / b:.2f} (target <= 1.2)")
    print(
        f"  node frames {sum(r['frames'] for r in node)}, received {sum(r['received'] for r in node)}, lost "
        f"{sum(r['lost'] for r in node)}, dropped by the source {sum(r['dropped'] for r in node)}"
    )
    if loss_seconds:
        r = run_worker("video-node", loss_seconds, transfer)
        print(
            f"  {loss_seconds:g} s run: {r['frames']} frames sent, {r['received']} received, lost {r['lost']} "
            f"(target 0), {r['cpu_pct']:.1f} % CPU"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short runs (a few seconds each)")
    parser.add_argument("--case", choices=("audio", "video", "all"), default="all")
    parser.add_argument("--seconds", type=float, default=None, help="measured seconds per process")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--video-transfer", choices=("sharedmem", "plaindata"), default="sharedmem")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    seconds = args.seconds or (3.0 if args.quick else 15.0)
    if args.worker:
        workers = {
            "audio-bare": worker_audio_bare,
            "audio-zmq": worker_audio_zmq,
            "audio-node": worker_audio_node,
            "video-bare": worker_video_bare,
            "video-node": lambda s: worker_video_node(s, args.video_transfer),
        }
        workers[args.worker](seconds)
        return 0
    rounds = args.rounds or (1 if args.quick else 3)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, load {os.getloadavg()[0]:.2f}")
    if args.case in ("audio", "all"):
        bench_audio(seconds, rounds)
    if args.case in ("video", "all"):
        bench_video(seconds, rounds, args.video_transfer, 0.0 if args.quick else 60.0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
