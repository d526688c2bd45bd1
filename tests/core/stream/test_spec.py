import numpy as np
import pytest

from lslacq.core.stream import StreamSpec
from lslacq.core.stream.spec import normalize_dtype


def test_dict_view_reads_and_writes_fields_and_extras():
    spec = StreamSpec()
    spec["shape"] = (-1, 8)
    spec["channel_names"] = ["a"] * 8
    assert spec.shape == (-1, 8)
    assert spec["channel_names"] == ["a"] * 8
    assert "channel_names" in spec and "shape" in spec and "nope" not in spec
    assert spec.get("nope", 3) == 3
    assert dict(spec.items())["shape"] == (-1, 8)
    assert spec.explicit_keys() == {"shape", "channel_names"}


def test_round_trip_through_plain_dict_keeps_structured_dtype():
    dtype = np.dtype([("index", "<i8"), ("label", "S16"), ("xy", "<f4", (2,))])
    spec = StreamSpec(dtype=dtype, shape=(-1,), streamtype="event")
    as_dict = spec.to_dict()
    # what msgpack/json turn tuples into
    as_dict["dtype"] = [list(f) for f in as_dict["dtype"]]
    back = StreamSpec.from_dict(as_dict)
    assert back.np_dtype == dtype
    assert back.frame_shape == ()


@pytest.mark.parametrize(
    ("key", "value", "needle"),
    [
        ("protocol", "udp", "protocol"),
        ("transfermode", "shared", "transfermode"),
        ("streamtype", "audio", "streamtype"),
        ("compression", "zstd-x", "compression"),
        ("shape", (8, -1), "shape"),
        ("shape", "abc", "shape"),
        ("sample_rate", -3, "sample_rate"),
        ("axisorder", (0, 0), "axisorder"),
        ("on_full", "explode", "on_full"),
    ],
)
def test_validate_names_the_bad_key(key, value, needle):
    spec = StreamSpec()
    spec[key] = value
    with pytest.raises(ValueError, match=needle):
        spec.validate("out")


def test_image_shape_is_checked():
    with pytest.raises(ValueError, match="image/video"):
        StreamSpec(streamtype="image/video", shape=(-1, 8)).validate()
    StreamSpec(streamtype="image/video", dtype="uint8", shape=(-1, 48, 64, 3)).validate()


def test_pyacq_events_spelling_is_accepted():
    spec = StreamSpec(streamtype="events", dtype="int64", shape=(-1,))
    assert spec.validate().streamtype == "event"


def test_bad_dtype_message():
    with pytest.raises(ValueError, match="invalid dtype"):
        normalize_dtype("floaty")


@pytest.mark.parametrize(
    ("key", "value", "needle"),
    [
        ("sample_rate", "fast", "sample_rate='fast'; expected a positive number"),
        ("hwm", "x", "hwm='x'; expected a positive integer"),
        ("buffer_size", "big", "buffer_size='big'; expected a positive integer"),
        ("transfermod", "sharedmem", "unknown parameter 'transfermod'; did you mean 'transfermode'"),
    ],
)
def test_bad_values_and_misspelt_keys_are_named(key, value, needle):
    spec = StreamSpec()
    spec[key] = value
    with pytest.raises(ValueError, match=needle):
        spec.validate("out")


def test_metadata_keys_are_not_mistaken_for_typos():
    spec = StreamSpec()
    spec.update(channel_names=["a"], units_per_channel=["uV"], name="x", source_id="abc")
    spec.validate()
