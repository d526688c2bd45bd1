"""The module paths, transfer modes and codec names the pyacq manual documents work in lslacq."""

import numpy as np
import pytest

from lslacq.core.stream import available_codecs


def test_manual_5_1_3_sharedarray_sharedmem_path():
    from lslacq.core.stream import SharedMem
    from lslacq.core.stream.sharedarray import SharedMem as DocumentedSharedMem

    assert DocumentedSharedMem is SharedMem
    import lslacq

    assert lslacq.core.stream.sharedarray.SharedMem is SharedMem  # the manual's dotted path after `import lslacq`
    with DocumentedSharedMem(nbytes=4096) as owner:
        peer = DocumentedSharedMem(**owner.to_dict())
        owner.to_numpy(0, "int32", (4,))[:] = [1, 2, 3, 4]
        np.testing.assert_array_equal(peer.to_numpy(0, "int32", (4,)), [1, 2, 3, 4])
        peer.close()


def test_manual_5_1_2_sender_class_paths():
    from lslacq.core.stream import PlainDataSender, SharedMemSender
    from lslacq.core.stream.plaindatastream import PlainDataSender as DocumentedPlain
    from lslacq.core.stream.sharedmemstream import SharedMemSender as DocumentedShared

    assert DocumentedPlain is PlainDataSender and DocumentedShared is SharedMemSender


def test_manual_5_4_2_transfermode_sharedarray_is_sharedmem(pair):
    out, inp = pair(protocol="ipc", transfermode="sharedarray", dtype="float32", shape=(-1, 4), buffer_size=100)
    assert out.params["transfermode"] == "sharedmem"
    data = np.arange(20, dtype="float32").reshape(5, 4)
    out.send(data)
    index, got = inp.recv(timeout=5000, return_data=True)
    assert index == 5
    np.testing.assert_array_equal(got, data)
    np.testing.assert_array_equal(inp[-5:], data)  # through the shared ring, as the manual describes


@pytest.mark.slow
@pytest.mark.skipif("blosclz" not in available_codecs(), reason="needs blosc2")
def test_pyacq_compression_name_blosc_blosclz(pair):
    for name in ("blosc-blosclz", "blosclz"):
        out, inp = pair(protocol="tcp", dtype="float32", shape=(-1, 16), compression=name)
        data = np.tile(np.arange(16, dtype="float32"), (64, 1))
        out.send(data)
        index, got = inp.recv(timeout=5000)
        assert index == 64
        np.testing.assert_array_equal(got, data)
