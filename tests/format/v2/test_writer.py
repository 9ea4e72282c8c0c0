"""CheckpointWriter against TensorFlow: SaveV2 writes the same files, and TensorFlow restores ours.

TensorFlow is the oracle twice over: for the same tensors added in the same order, our `.index`
and data file must equal the ones `tf.raw_ops.SaveV2` writes byte for byte; and whatever we write,
`tf.train.load_checkpoint` and a TF1 `Saver` must restore to the values we put in.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest
import tf_checkpoints as tfc
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from test_sstable_writer import WORKED_EXAMPLE

from ckpt_browser.format import CheckpointError
from ckpt_browser.format.names import name_of_key
from ckpt_browser.format.v2 import tensor_bytes
from ckpt_browser.format.v2 import writer as writer_module
from ckpt_browser.format.v2.writer import CheckpointWriter, WriteCancelled, write_checkpoint_state

DATA = ".data-00000-of-00001"


@pytest.fixture(scope="module")
def tf():
    return tfc.import_tensorflow()


def write_ours(
    prefix: str | Path, tensors: Mapping[str, object], dtype_names: Mapping[str, str] | None = None
) -> str:
    with CheckpointWriter(prefix) as writer:
        for name, value in tensors.items():
            writer.add(name, value, (dtype_names or {}).get(name))
    return str(prefix)


def assert_same_files(ours: str, theirs: str) -> None:
    for suffix in (".index", DATA):
        assert Path(ours + suffix).read_bytes() == Path(theirs + suffix).read_bytes(), suffix


def assert_same_tensor(actual: object, expected: object) -> None:
    """Equal dtype, shape and bytes (NaN, -0.0 and bfloat16 compare exactly)."""
    expected = np.asarray(expected)
    if expected.dtype == object or expected.dtype.kind in "SUT":
        elements = np.asarray(expected, dtype=object).ravel()
        as_bytes = [e.encode() if isinstance(e, str) else bytes(e) for e in elements]
        actual = np.asarray(actual, dtype=object)
        assert actual.shape == expected.shape
        assert list(actual.ravel()) == as_bytes
        return
    actual = np.asarray(actual)
    if expected.dtype.byteorder == ">":
        expected = expected.astype(expected.dtype.newbyteorder("="))
    assert actual.dtype == expected.dtype
    assert actual.shape == expected.shape
    assert actual.tobytes() == np.ascontiguousarray(expected).tobytes()


def tf_values(tf, prefix: str) -> dict[str, np.ndarray]:
    reader = tf.train.load_checkpoint(prefix)
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


def listing(directory: Path) -> list[str]:
    return sorted(os.listdir(directory))


# --- byte for byte the files SaveV2 writes ------------------------------------------------------


def test_single_tensor_matches_tensorflow_and_the_format_doc(tmp_path: Path, tf) -> None:
    tensors = {"a": np.zeros(2, np.float32)}
    theirs = tfc.write_with_tf(tmp_path / "tf", tensors)
    ours = write_ours(tmp_path / "ours", tensors)
    assert_same_files(ours, theirs)
    assert Path(ours + ".index").read_bytes() == WORKED_EXAMPLE


def test_every_dtype_matches_tensorflow(tmp_path: Path, all_dtypes_ckpt: tfc.AllDtypesCkpt) -> None:
    """Every dtype TF can save, strings, scalars and zero-size tensors, in SaveV2's order."""
    dtype_names = {
        name: dtype for name, dtype in all_dtypes_ckpt.dtype_names.items() if dtype != "string"
    }
    ours = write_ours(tmp_path / "ours", all_dtypes_ckpt.expected, dtype_names)
    assert_same_files(ours, all_dtypes_ckpt.prefix)


@pytest.mark.slow
def test_twenty_thousand_long_names_span_many_blocks_and_match(tmp_path: Path, tf) -> None:
    rng = np.random.default_rng(11)
    tensors = {
        f"model/encoder/layer_{i // 8:05d}/attention/self/projection_{i % 8}/kernel/"
        f"ExponentialMovingAverage": rng.normal(size=(i % 3,)).astype(np.float32)
        for i in range(20_000)
    }
    # Not in key order: the data file keeps the order of adding, the index is sorted.
    tensors = dict(reversed(list(tensors.items())))
    theirs = tfc.write_with_tf(tmp_path / "tf", tensors)
    ours = write_ours(tmp_path / "ours", tensors)
    assert os.path.getsize(ours + ".index") > 4 * 262144  # several 256 KiB blocks
    assert_same_files(ours, theirs)


def test_strings_match_tensorflow(tmp_path: Path) -> None:
    tensors = {
        "doc_example": np.array([b"ab", b"", b"xyz"], dtype=object),
        "big": np.array([b"\x00" * 70_000, b"y" * 200, b""], dtype=object),
        "grid": np.array([[b"a", b"b\x00"], [b"\xff", b""]], dtype=object),
        "scalar": np.array(b"one", dtype=object),
        "empty": np.array([], dtype=object).reshape(0, 3),
    }
    theirs = tfc.write_with_tf(tmp_path / "tf", tensors)
    unicode_input = {**tensors, "doc_example": ["ab", "", "xyz"]}  # str elements: UTF-8
    ours = write_ours(tmp_path / "ours", unicode_input)
    assert_same_files(ours, theirs)


@pytest.mark.parametrize("explicit", [True, False], ids=["explicit_extents", "whole_dimensions"])
def test_partitioned_matches_tensorflow(tmp_path: Path, tf, explicit: bool) -> None:
    """`pv` [10, 4] in three row slices between two plain tensors, as a TF1 Saver saves it."""
    full = np.arange(40, dtype=np.float32).reshape(10, 4)
    rows = [(0, 4), (4, 3), (7, 3)]
    columns = "0,4" if explicit else "-"
    specs = [f"10 4 {start},{length}:{columns}" for start, length in rows]
    tf.raw_ops.SaveV2(
        prefix=str(tmp_path / "tf"),
        tensor_names=["w", "pv", "pv", "pv", "b"],
        shape_and_slices=["", *specs, ""],
        tensors=[
            tf.constant(np.ones(3)),
            *(tf.constant(full[s : s + n]) for s, n in rows),
            tf.constant(np.int64(5)),
        ],
    )
    with CheckpointWriter(tmp_path / "ours") as writer:
        writer.add("w", np.ones(3))
        column_extent = (0, 4) if explicit else (0, -1)
        slices = [([(s, n), column_extent], full[s : s + n]) for s, n in rows]
        writer.add_partitioned("pv", (10, 4), "float32", slices)
        writer.add("b", np.int64(5))
    assert_same_files(str(tmp_path / "ours"), str(tmp_path / "tf"))
    assert_same_tensor(tf.train.load_checkpoint(str(tmp_path / "ours")).get_tensor("pv"), full)


# --- TensorFlow restores what we write ----------------------------------------------------------


def test_tensorflow_reads_every_dtype(
    tmp_path: Path, tf, all_dtypes_ckpt: tfc.AllDtypesCkpt
) -> None:
    expected = all_dtypes_ckpt.expected
    ours = write_ours(tmp_path / "ours", expected)  # quantized ones stored as their storage ints
    values = tf_values(tf, ours)
    assert set(values) == set(expected)
    for name, value in expected.items():
        assert_same_tensor(values[name], value)


def test_non_contiguous_and_big_endian_arrays_are_written_in_row_major_order(
    tmp_path: Path, tf, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tensor_bytes, "CHUNK_BYTES", 40)  # many chunks, split inside rows
    base = np.arange(4 * 6 * 5, dtype=np.float32).reshape(4, 6, 5)
    tensors = {
        "transposed": base.T,
        "strided": base[::2, 1::2, ::-1],
        "fortran": np.asfortranarray(base),
        "big_endian": base.astype(">f8"),
        "bfloat16_transposed": base.astype(ml_dtypes.bfloat16).transpose(1, 0, 2),
        "broadcast": np.broadcast_to(np.arange(3, dtype=np.int16), (100, 3)),
        "bool": base[:, :, 0] > 50,
    }
    values = tf_values(tf, write_ours(tmp_path / "ours", tensors))
    for name, value in tensors.items():
        assert_same_tensor(values[name], value)


def test_large_tensors_use_helper_threads_for_crc_and_sync(
    tmp_path: Path, tf, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Scaled down: CRCs in a helper thread and background syncs, as for gigabyte tensors."""
    monkeypatch.setattr(tensor_bytes, "CHUNK_BYTES", 64 << 10)
    monkeypatch.setattr(writer_module, "_PARALLEL_CRC_BYTES", 1 << 10)
    monkeypatch.setattr(writer_module, "SYNC_EVERY_BYTES", 256 << 10)
    rng = np.random.default_rng(2)
    tensors = {
        "big": rng.normal(size=(700, 1000)).astype(np.float32),
        "big_transposed": rng.integers(-9, 9, size=(300, 900)).T,
        "small": np.arange(5),
    }
    ours = write_ours(tmp_path / "ours", tensors)
    theirs = tfc.write_with_tf(tmp_path / "tf", tensors)
    assert_same_files(ours, theirs)
    values = tf_values(tf, ours)  # TensorFlow checks every tensor's CRC as it reads
    for name, value in tensors.items():
        assert_same_tensor(values[name], value)


def test_add_stream_from_a_buffer_the_caller_reuses(
    tmp_path: Path, tf, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each chunk must be written before the next is asked for: readers refill one buffer."""
    monkeypatch.setattr(writer_module, "_PARALLEL_CRC_BYTES", 1 << 10)
    source = tmp_path / "source.bin"
    values = np.random.default_rng(4).normal(size=(50, 1000))
    source.write_bytes(values.tobytes())

    def chunks():
        buffer = bytearray(64 << 10)
        with open(source, "rb", buffering=0) as file:
            while size := file.readinto(buffer):
                yield memoryview(buffer)[:size]

    with CheckpointWriter(tmp_path / "ours") as writer:
        writer.add_stream("streamed", "float64", values.shape, chunks())
    assert_same_tensor(tf_values(tf, str(tmp_path / "ours"))["streamed"], values)


def test_partitioned_in_any_tiling_is_reassembled_by_tensorflow(tmp_path: Path, tf) -> None:
    full = np.arange(6 * 4 * 2, dtype=np.int32).reshape(6, 4, 2)
    slices = [
        ([(0, 2), (0, 4), (0, -1)], full[0:2]),
        ([(2, 4), (0, 1), (0, -1)], full[2:, 0:1]),
        ([(2, 4), (1, 3), (0, 2)], full[2:, 1:]),
    ]
    with CheckpointWriter(tmp_path / "ours") as writer:
        writer.add_partitioned("part", full.shape, np.int32, slices)
        writer.add_partitioned("whole", (2, 2), "float64", [([(0, -1), (0, 2)], np.eye(2))])
    reader = tf.train.load_checkpoint(str(tmp_path / "ours"))
    assert reader.get_variable_to_shape_map() == {"part": [6, 4, 2], "whole": [2, 2]}
    assert_same_tensor(reader.get_tensor("part"), full)
    assert_same_tensor(reader.get_tensor("whole"), np.eye(2))


def test_tf1_saver_restores_including_a_partitioned_variable(tmp_path: Path, tf) -> None:
    v1 = tf.compat.v1
    weights = np.arange(6, dtype=np.float32).reshape(3, 2)
    table = np.arange(40, dtype=np.float32).reshape(10, 4) / 7
    with CheckpointWriter(tmp_path / "model") as writer:
        writer.add("dense/kernel", weights)
        writer.add("counter", np.int64(42))
        # Stored in two column halves; the graph wants three row slices: TF must re-slice.
        writer.add_partitioned(
            "table",
            (10, 4),
            "float32",
            [([(0, 10), (0, 2)], table[:, :2]), ([(0, 10), (2, 2)], table[:, 2:])],
        )
    graph = tf.Graph()
    with graph.as_default():
        kernel = v1.get_variable("dense/kernel", shape=(3, 2), dtype=tf.float32)
        counter = v1.get_variable("counter", shape=(), dtype=tf.int64)
        partitioned = v1.get_variable(
            "table",
            shape=(10, 4),
            dtype=tf.float32,
            partitioner=v1.fixed_size_partitioner(3),
        )
        saver = v1.train.Saver()
        with v1.Session(graph=graph) as session:
            saver.restore(session, str(tmp_path / "model"))
            got_kernel, got_counter, got_table = session.run(
                [kernel, counter, tf.concat(list(partitioned), axis=0)]
            )
    assert_same_tensor(got_kernel, weights)
    assert got_counter == 42
    assert_same_tensor(got_table, table)


def test_add_stream_writes_pieces_as_one_tensor(tmp_path: Path, tf) -> None:
    full = np.arange(1000, dtype=np.float64).reshape(100, 10)
    raw = full.tobytes()
    progress: list[int] = []
    with CheckpointWriter(tmp_path / "ours", progress=progress.append) as writer:
        writer.add_stream(
            "mixed",
            np.float64,
            (100, 10),
            [
                raw[:3],
                memoryview(raw[3:800]),
                bytearray(raw[800:4000]),
                np.frombuffer(raw[4000:], np.uint8),
                b"",
            ],
        )
        writer.add_stream(
            "arrays", "float64", (100, 10), (full[i : i + 7] for i in range(0, 100, 7))
        )
        writer.add_stream("words", "string", (2, 2), [["a", b"bb"], np.array([b"", b"d"], object)])
        writer.add_stream("bfloat16", ml_dtypes.bfloat16, (3,), [np.ones(3, ml_dtypes.bfloat16)])
    values = tf_values(tf, str(tmp_path / "ours"))
    assert_same_tensor(values["mixed"], full)
    assert_same_tensor(values["arrays"], full)
    assert_same_tensor(values["words"], np.array([[b"a", b"bb"], [b"", b"d"]], object))
    assert_same_tensor(values["bfloat16"], np.ones(3, ml_dtypes.bfloat16))
    data_size = os.path.getsize(str(tmp_path / "ours") + DATA)
    assert progress == sorted(progress) and progress[-1] == data_size


@pytest.mark.parametrize("pieces", [[b"\x00" * 7], [b"\x00" * 9], [b"\x00" * 4, b"\x00" * 5]])
def test_add_stream_with_the_wrong_byte_count_fails_and_leaves_nothing(
    tmp_path: Path, pieces: list[bytes]
) -> None:
    with pytest.raises(ValueError, match="bytes"), CheckpointWriter(tmp_path / "ours") as writer:
        writer.add("fine", np.zeros(3))
        writer.add_stream("short", "float32", (2,), pieces)
    assert listing(tmp_path) == []


# --- atomic publication ---------------------------------------------------------------------------


def test_exception_inside_the_with_block_leaves_no_files(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), CheckpointWriter(tmp_path / "model") as writer:
        writer.add("a", np.zeros(1000))
        assert len(listing(tmp_path)) == 1  # the temporary data file
        raise RuntimeError("training crashed")
    assert listing(tmp_path) == []


def test_failure_while_writing_a_tensor_aborts_the_writer(tmp_path: Path) -> None:
    writer = CheckpointWriter(tmp_path / "model")
    writer.add("a", np.zeros(3))
    with pytest.raises(TypeError, match="string tensor cannot hold"):
        writer.add("strings", np.array([b"ok", 3], dtype=object))
    assert listing(tmp_path) == []
    with pytest.raises(ValueError, match="closed"):
        writer.add("b", np.zeros(3))


def test_cancel_stops_and_removes_everything(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(tensor_bytes, "CHUNK_BYTES", 1024)
    seen: list[int] = []
    writer = CheckpointWriter(
        tmp_path / "model", progress=seen.append, cancel=lambda: bool(seen) and seen[-1] >= 4096
    )
    with pytest.raises(WriteCancelled), writer:
        writer.add("big", np.zeros(10_000, np.float32))
    assert seen == [1024, 2048, 3072, 4096]
    assert listing(tmp_path) == []


def test_abort_removes_the_temporary_files_and_closes(tmp_path: Path) -> None:
    writer = CheckpointWriter(tmp_path / "model")
    writer.add("a", np.zeros(3))
    writer.abort()
    writer.abort()  # harmless twice
    assert listing(tmp_path) == []
    with pytest.raises(ValueError, match="closed"):
        writer.finish()


def test_mistakes_found_before_writing_keep_the_writer_usable(tmp_path: Path, tf) -> None:
    with CheckpointWriter(tmp_path / "model") as writer:
        writer.add("a", np.zeros(3))
        with pytest.raises(ValueError, match="already added"):
            writer.add("a", np.ones(3))
        with pytest.raises(ValueError, match="invalid tensor name"):
            writer.add("", np.ones(3))
        with pytest.raises(ValueError, match="cannot store"):
            writer.add("b", np.ones(3), "int32")
        with pytest.raises(ValueError, match="cannot be written"):
            writer.add_stream("c", "resource", (1,), [])
        pv = np.zeros((4, 2))
        bad_tilings = {
            "overlap": [([(0, 3), (0, 2)], pv[:3]), ([(2, 2), (0, 2)], pv[2:])],
            "do not cover": [([(0, 3), (0, 2)], pv[:3])],
            "outside": [([(0, 5), (0, 2)], np.zeros((5, 2)))],
            "needs shape": [([(0, 4), (0, 2)], pv[:3])],
            "dimensions": [([(0, 4)], pv)],
        }
        for message, slices in bad_tilings.items():
            with pytest.raises(ValueError, match=message):
                writer.add_partitioned("pv", (4, 2), "float64", slices)
        writer.add("b", np.ones(2))
        assert "a" in writer and "pv" not in writer
    assert set(tf_values(tf, str(tmp_path / "model"))) == {"a", "b"}


def test_an_existing_checkpoint_is_not_overwritten_unless_asked(tmp_path: Path, tf) -> None:
    prefix = str(tmp_path / "model")
    write_ours(prefix, {"old": np.zeros(2)})
    before = {name: (tmp_path / name).read_bytes() for name in listing(tmp_path)}
    with pytest.raises(CheckpointError, match="already exists"):
        CheckpointWriter(prefix)
    assert {name: (tmp_path / name).read_bytes() for name in listing(tmp_path)} == before

    stale_shard = Path(prefix + ".data-00001-of-00002")
    stale_shard.write_bytes(b"left over from a two-shard checkpoint")
    with CheckpointWriter(prefix, overwrite=True) as writer:
        writer.add("new", np.ones(2))
    assert listing(tmp_path) == ["model" + DATA, "model.index"]
    assert set(tf_values(tf, prefix)) == {"new"}


def test_a_checkpoint_that_appears_while_writing_is_not_overwritten(tmp_path: Path) -> None:
    prefix = str(tmp_path / "model")
    with pytest.raises(CheckpointError, match="already exists"), CheckpointWriter(prefix) as writer:
        writer.add("a", np.zeros(2))
        write_ours(tmp_path / "model", {"other": np.ones(1)})
    assert listing(tmp_path) == ["model" + DATA, "model.index"]
    with CheckpointWriter(tmp_path / "check") as check:
        check.add("other", np.ones(1))
    assert (tmp_path / "model.index").read_bytes() == (tmp_path / "check.index").read_bytes()


def test_missing_directories_are_created(tmp_path: Path, tf) -> None:
    prefix = tmp_path / "a" / "b" / "model"
    write_ours(prefix, {"x": np.arange(3)})
    assert_same_tensor(tf_values(tf, str(prefix))["x"], np.arange(3))


# --- the `checkpoint` state file ------------------------------------------------------------------


def test_checkpoint_state_is_read_by_tensorflow(tmp_path: Path, tf) -> None:
    first, second = str(tmp_path / "model-100"), str(tmp_path / "model-200")
    for prefix in (first, second):
        write_ours(prefix, {"x": np.zeros(1)})
    path = write_checkpoint_state(tmp_path, second, [first, second], timestamps=[1.5, 2.5])
    assert path == str(tmp_path / "checkpoint")
    text = Path(path).read_text()
    assert 'model_checkpoint_path: "model-200"' in text  # relative, as TF2 writes it
    state = tf.train.get_checkpoint_state(str(tmp_path))
    assert state.model_checkpoint_path == second
    assert list(state.all_model_checkpoint_paths) == [first, second]
    assert list(state.all_model_checkpoint_timestamps) == [1.5, 2.5]
    assert tf.train.latest_checkpoint(str(tmp_path)) == second
    assert listing(tmp_path).count("checkpoint") == 1
    assert not [name for name in listing(tmp_path) if "ckpt-browser" in name]


def test_checkpoint_state_outside_the_directory_is_absolute(tmp_path: Path, tf) -> None:
    prefix = str(tmp_path / "elsewhere" / "model")
    write_ours(prefix, {"x": np.zeros(1)})
    write_checkpoint_state(tmp_path / "state", prefix)
    state = tf.train.get_checkpoint_state(str(tmp_path / "state"))
    assert state.model_checkpoint_path == prefix
    assert list(state.all_model_checkpoint_paths) == [prefix]
    with pytest.raises(ValueError, match="timestamps"):
        write_checkpoint_state(tmp_path, prefix, timestamps=[1.0, 2.0])


# --- random tensors -----------------------------------------------------------------------------

_NUMERIC = [
    np.float32,
    np.float64,
    np.int8,
    np.uint16,
    np.int64,
    np.bool_,
    np.complex64,
    np.float16,
    ml_dtypes.bfloat16,
    ml_dtypes.float8_e4m3fn,
    ml_dtypes.int4,
]


@st.composite
def random_tensors(draw) -> np.ndarray:
    """Random bytes seen as a random dtype (NaN payloads and all), or random byte strings."""
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5))
    if draw(st.integers(0, 5)) == 0:
        elements = draw(
            st.lists(
                st.binary(max_size=20), min_size=int(np.prod(shape)), max_size=int(np.prod(shape))
            )
        )
        array = np.empty(len(elements), dtype=object)
        array[:] = elements
        return array.reshape(shape)
    dtype = np.dtype(draw(st.sampled_from(_NUMERIC)))
    raw = draw(hnp.arrays(np.uint8, (*shape, dtype.itemsize)))
    array = raw.view(dtype).reshape(shape)
    if dtype == np.bool_:
        array = raw[..., 0].reshape(shape) % 2 == 1
    if dtype == ml_dtypes.int4:
        array = (raw[..., 0].reshape(shape).astype(np.int8) % 16 - 8).astype(dtype)
    return array


@example(named={"\x00stray": np.arange(3, dtype=np.int32)})  # a key as a slice key starts
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.dictionaries(
        st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=30),
        random_tensors(),
        min_size=1,
        max_size=8,
    )
)
def test_random_tensors_match_tensorflow_and_round_trip(
    tmp_path_factory: pytest.TempPathFactory, tf, named: dict[str, np.ndarray]
) -> None:
    directory = tmp_path_factory.mktemp("random")
    theirs = tfc.write_with_tf(directory / "tf", named)
    # TensorFlow takes a key's text; we take its name, which escapes what does not print.
    ours = write_ours(directory / "ours", {name_of_key(n.encode()): v for n, v in named.items()})
    assert_same_files(ours, theirs)
    values = tf_values(tf, ours)
    assert set(values) == set(named)
    for name, value in named.items():
        assert_same_tensor(values[name], value)
