"""Hostile shapes and slices: a partitioned tensor's slices and any tensor's declared shape are
checked before anything is allocated, each failure one sentence, and TensorFlow refuses the same
files. The indexes are TensorFlow-written ones rewritten entry by entry."""

from __future__ import annotations

import math
import os
import re
import signal
import subprocess
import sys
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import tf_checkpoints as tfc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ckpt_browser.cli import main
from ckpt_browser.format import CheckpointError, open_checkpoint, protos
from ckpt_browser.format.crc import mask
from ckpt_browser.format.sstable.reader import Table
from ckpt_browser.format.sstable.writer import TableBuilder
from ckpt_browser.format.tiling import overlapping_pair
from ckpt_browser.format.v2.slice_keys import slice_key
from ckpt_browser.format.v2.writer import CheckpointWriter
from tests.format.test_bad_input import copy_checkpoint

Entries = dict[bytes, protos.BundleEntryProto]
HUGE = 1 << 40  # elements; as float32, 4 TiB


def rewrite(prefix: str, directory: Path, edit: Callable[[Entries], None]) -> str:
    """A copy of the checkpoint at `prefix` whose index entries `edit` changed in place."""
    directory.mkdir(parents=True, exist_ok=True)
    copy = copy_checkpoint(prefix, directory)
    items = Table.open(prefix + ".index").items()
    entries = {key: protos.BundleEntryProto.FromString(value) for key, value in items[1:]}
    edit(entries)
    with open(copy + ".index", "wb") as file:
        table = TableBuilder(file)
        table.add(b"", items[0][1])
        for key in sorted(entries):
            table.add(key, entries[key].SerializeToString())
        table.finish()
    return copy


def extents_of(proto: protos.TensorSliceProto) -> tuple[tuple[int, int], ...]:
    return tuple((e.start, e.length if e.HasField("length") else -1) for e in proto.extent)


def move_extent(
    entries: Entries, name: str, index: int, axis: int, start: int | None, length: int | None
) -> bytes:
    """Give slice `index` of partitioned `name` a new extent along `axis` (None: leave the start,
    drop the length) and move its slice entry to the key of the new extents, as a writer of such
    a file would; returns that key."""
    proto = entries[name.encode()].slices[index]
    old_key = slice_key(name, extents_of(proto))
    extent = proto.extent[axis]
    if start is not None:
        extent.start = start
    if length is None:
        extent.ClearField("length")
    else:
        extent.length = length
    new_key = slice_key(name, extents_of(proto))
    entries[new_key] = entries.pop(old_key)
    return new_key


def stored_slice(entries: Entries, name: str, index: int) -> protos.BundleEntryProto:
    return entries[slice_key(name, extents_of(entries[name.encode()].slices[index]))]


def set_shape(entry: protos.BundleEntryProto, shape: list[int]) -> None:
    del entry.shape.dim[:]
    for size in shape:
        entry.shape.dim.add(size=size)


# -- partitioned tensors ----------------------------------------------------------------------
# `pv` [10, 4] float32 is stored in rows 0:4, 4:7 and 7:10, with explicit extents (TF1 Saver).


def _negative_start(e: Entries) -> None:
    move_extent(e, "pv", 1, 0, -1, 3)


def _past_the_end(e: Entries) -> None:
    move_extent(e, "pv", 2, 0, 8, 3)


def _too_few_extents(e: Entries) -> None:
    key = slice_key("pv", extents_of(e[b"pv"].slices[0]))
    e[b"pv"].slices[0].extent.pop()
    e[slice_key("pv", extents_of(e[b"pv"].slices[0]))] = e.pop(key)


def _zero_length(e: Entries) -> None:
    move_extent(e, "pv", 0, 0, 0, 0)


def _start_without_length(e: Entries) -> None:
    """A start but no length: TensorFlow takes the extent as the whole dimension."""
    move_extent(e, "pv", 0, 1, 2, None)


def _int32_slice(e: Entries) -> None:
    stored_slice(e, "pv", 1).dtype = 3  # the float32 bytes would read as int32


def _slice_shape(e: Entries) -> None:
    entry = stored_slice(e, "pv", 1)
    set_shape(entry, [4, 4])
    entry.size = 64


def _slice_size(e: Entries) -> None:
    stored_slice(e, "pv", 1).size = 44


def _overlap(e: Entries) -> None:
    key = move_extent(e, "pv", 1, 0, 3, 4)
    set_shape(e[key], [4, 4])
    e[key].size = 64


def _hole(e: Entries) -> None:
    del e[b"pv"].slices[2]


def _missing_slice(e: Entries) -> None:
    del e[slice_key("pv", extents_of(e[b"pv"].slices[2]))]


def _slice_past_the_shard(e: Entries) -> None:
    stored_slice(e, "pv", 2).offset = 1 << 30


PV = "of partitioned tensor 'pv'"
PARTITION_CASES = {  # case: (edit, what the error says)
    "negative start": (
        _negative_start,
        f"slice [-1:2, 0:4] {PV} has start -1 and length 3 in dimension 0; neither may be negative",
    ),
    "past the end": (
        _past_the_end,
        f"slice [8:11, 0:4] {PV} ends at 11 in dimension 0, past its size 10",
    ),
    "too few extents": (
        _too_few_extents,
        f"slice [0:4] {PV} has 1 dimension(s) where the tensor has 2",
    ),
    "zero length": (_zero_length, "partitioned tensor 'pv' has slices that cover 24 of its 40"),
    "start without length": (
        _start_without_length,
        f"slice [0:4, 2:(length -1)] {PV} has start 2 and length -1 in dimension 1; neither",
    ),
    "int32 slice": (
        _int32_slice,
        f"slice [4:7, 0:4] {PV} is stored as int32, the tensor is float32",
    ),
    "slice shape": (
        _slice_shape,
        f"slice [4:7, 0:4] {PV} is stored with shape [4, 4] (16 elements), its extents hold 12",
    ),
    "slice size": (
        _slice_size,
        f"slice [4:7, 0:4] {PV}: invalid size; stored size 44; expected size 48",
    ),
    "overlap": (
        _overlap,
        "partitioned tensor 'pv' has slices [0:4, 0:4] and [3:7, 0:4] that overlap",
    ),
    "hole": (_hole, "partitioned tensor 'pv' has slices that cover 28 of its 40 elements"),
    "missing slice": (_missing_slice, f"slice [7:10, 0:4] {PV} is missing from the index"),
    "slice past the shard": (
        _slice_past_the_shard,
        f"slice [7:10, 0:4] {PV}: bytes 1073741824..1073741872 lie past the end",
    ),
}


@pytest.fixture(scope="module")
def hostile_partitions(tf1_partitioned, tmp_path_factory) -> dict[str, str]:
    """Each case's rewritten checkpoint prefix."""
    root = tmp_path_factory.mktemp("hostile_partitions")
    return {
        case: rewrite(tf1_partitioned.prefix, root / case.replace(" ", "_"), edit)
        for case, (edit, _) in PARTITION_CASES.items()
    }


@pytest.mark.parametrize("case", PARTITION_CASES)
def test_bad_slice_is_one_sentence_and_the_rest_reads(hostile_partitions, tf1_partitioned, case):
    prefix = hostile_partitions[case]
    message = re.escape(PARTITION_CASES[case][1])
    expected = tf1_partitioned.expected
    with open_checkpoint(prefix) as ckpt:  # listing needs no slice
        assert set(expected) <= set(ckpt)  # (a slice no entry names is listed, as TF lists it)
        with pytest.raises(CheckpointError, match=message) as error:
            ckpt.read("pv")
        assert "\n" not in str(error.value)
        if case == "slice past the shard":  # the slices are sound: the others can be read
            np.testing.assert_array_equal(ckpt.read("pv", (slice(0, 7),)), expected["pv"][:7])
        else:
            with pytest.raises(CheckpointError, match=message):
                ckpt.read("pv", (slice(0, 2),))  # not even a part the bad slice does not hold
        np.testing.assert_array_equal(ckpt.read("emb/cols"), expected["emb/cols"])
        problems = [f"{p.name}: {p.message}" for p in ckpt.verify()]
    # Only `pv` is damaged (a slice whose size changed fails its checksum too).
    assert all(p.startswith("pv") for p in problems)
    assert any(re.match(r"pv\b.*: .*" + message, p) for p in problems), problems


@pytest.mark.parametrize("case", ["int32 slice", "overlap", "hole", "slice past the shard"])
def test_command_line_says_error_without_traceback(hostile_partitions, capsys, tmp_path, case):
    prefix = hostile_partitions[case]
    message = re.escape(PARTITION_CASES[case][1])
    for args in (["show", prefix, "pv"], ["export", prefix, "pv", "-o", str(tmp_path / "pv.npy")]):
        assert main(args) == 2
        *warnings, last = capsys.readouterr().err.splitlines()  # a truncated shard is warned of
        assert all(line.startswith("warning: ") for line in warnings)
        assert last.startswith("error: ") and re.search(message, last)
    assert not (tmp_path / "pv.npy").exists()
    assert main(["verify", prefix]) == 1
    out = capsys.readouterr().out
    assert re.search(r"damaged: pv\b.*: .*" + message, out)
    assert main(["ls", prefix]) == 0
    assert "pv" in capsys.readouterr().out


# What TensorFlow 2.21's reader does with the files it does not refuse with an error: a failed
# CHECK aborts the process (so these are read in a process of their own).
TENSORFLOW_ABORTS = {"start without length", "int32 slice", "300 dimensions"}

_TENSORFLOW_READS = """
import os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import tensorflow as tf
tf.train.load_checkpoint(sys.argv[1]).get_tensor(sys.argv[2])
"""


def tensorflow_reads(prefix: str, name: str) -> bool:
    """Whether TensorFlow's reader returns the tensor (a fresh reader: after a failure, the
    same reader aborts the process on its next read)."""
    tf = tfc.import_tensorflow()
    try:
        tf.train.load_checkpoint(prefix).get_tensor(name)
    except Exception:  # any refusal of TensorFlow's reader is the answer
        return False
    return True


@pytest.mark.slow
def test_tensorflow_refuses_every_hostile_file(hostile_partitions, hostile_shapes, tf1_partitioned):
    """The oracle: TensorFlow reads none of these files, nor do we; it reads the original."""
    cases = {case: (prefix, "pv") for case, prefix in hostile_partitions.items()}
    cases.update(hostile_shapes)
    assert tensorflow_reads(tf1_partitioned.prefix, "pv")
    for case, (prefix, name) in cases.items():
        if case in TENSORFLOW_ABORTS:
            run = subprocess.run(
                [sys.executable, "-c", _TENSORFLOW_READS, prefix, name],
                capture_output=True,
                timeout=600,
            )
            assert run.returncode == -signal.SIGABRT, case
        else:
            assert not tensorflow_reads(prefix, name), case


# -- declared shapes --------------------------------------------------------------------------
# `w` [3, 2] float32 is a plain tensor of the same checkpoint.


def _declare(shape: list[int], size: int | None = None, dtype: int | None = None) -> Callable:
    """Declare `w` of `shape` (and `size` bytes, `dtype`); an empty tensor gets its checksum."""

    def edit(e: Entries) -> None:
        set_shape(e[b"w"], shape)
        if size is not None:
            e[b"w"].size = size
        if size == 0:
            e[b"w"].crc32c = mask(0)
        if dtype is not None:
            e[b"w"].dtype = dtype

    return edit


def _huge_partitioned(e: Entries) -> None:
    """`pv` declared [2^40, 4], its last slice rows 7:2^40, stored where the shard ends."""
    set_shape(e[b"pv"], [HUGE, 4])
    key = move_extent(e, "pv", 2, 0, 7, HUGE - 7)
    set_shape(e[key], [HUGE - 7, 4])
    e[key].size = (HUGE - 7) * 16


def _huge_with_a_hole(e: Entries) -> None:
    """`emb/cols` declared [2^40, 6] over its three [2, 2] slices: the 6GB-in-21s file."""
    set_shape(e[b"emb/cols"], [HUGE, 6])


SHAPE_CASES = {  # case: (edit, tensor, what the error says)
    "70 dimensions": (
        _declare([3, 2] + [1] * 68),
        "w",
        "tensor 'w' has 70 dimensions; NumPy arrays can have at most 64",
    ),
    "300 dimensions": (_declare([3, 2] + [1] * 298), "w", "tensor 'w' has 300 dimensions"),
    "empty but huge": (
        _declare([0, 1 << 62, 1 << 62], size=0),
        "w",
        "tensor 'w' has shape [0, 4611686018427387904, 4611686018427387904], whose dimensions "
        "multiply past the largest NumPy array",
    ),
    "largest dimension": (
        _declare([(1 << 63) - 1]),
        "w",
        "invalid size in bundle entry: key 'w'; stored size 24; expected size 36893488147419103228",
    ),
    "huge and sized": (
        _declare([HUGE], size=4 * HUGE),
        "w",
        "tensor 'w': bytes 208..4398046511312 lie past the end of the data file",
    ),
    "huge strings": (
        _declare([HUGE], size=HUGE + 4, dtype=7),
        "w",
        "tensor 'w': 1099511627776 strings cannot fit in the 24 bytes from its offset",
    ),
    "huge partitioned": (
        _huge_partitioned,
        "pv",
        f"slice [7:1099511627776, 0:4] {PV}: bytes 160..17592186044464 lie past the end",
    ),
    "huge partitioned, a hole": (
        _huge_with_a_hole,
        "emb/cols",
        "partitioned tensor 'emb/cols' has slices that cover 12 of its 6,597,069,766,656 elements",
    ),
}


@pytest.fixture(scope="module")
def hostile_shapes(tf1_partitioned, tmp_path_factory) -> dict[str, tuple[str, str]]:
    """Each case's rewritten checkpoint prefix and the tensor it declares."""
    root = tmp_path_factory.mktemp("hostile_shapes")
    return {
        case: (rewrite(tf1_partitioned.prefix, root / re.sub(r"\W+", "_", case), edit), name)
        for case, (edit, name, _) in SHAPE_CASES.items()
    }


@pytest.mark.parametrize("case", SHAPE_CASES)
def test_declared_shape_is_refused_before_allocating(hostile_shapes, case):
    prefix, name = hostile_shapes[case]
    message = re.escape(SHAPE_CASES[case][2])
    tracemalloc.start()
    try:
        with open_checkpoint(prefix) as ckpt:
            with pytest.raises(CheckpointError, match=message) as error:
                ckpt.read(name)
            assert "\n" not in str(error.value)
            problems = {p.name: p.message for p in ckpt.verify()}
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20
    assert any(re.search(message, text) for text in problems.values()), problems


def test_a_region_of_a_huge_declared_tensor_allocates_only_the_region(
    hostile_shapes, tf1_partitioned
):
    """`pv` declared [2^40, 4]: rows its sound slices hold read; a part of the slice past the
    shard's end is refused, before its 4 TiB are allocated."""
    prefix, _ = hostile_shapes["huge partitioned"]
    tracemalloc.start()
    try:
        with open_checkpoint(prefix) as ckpt:
            rows = ckpt.read("pv", (slice(2, 7), slice(None, None, -1)))
            with pytest.raises(CheckpointError, match="lie past the end"):
                ckpt.read("pv", (slice(HUGE - 3, None),))
            with pytest.raises(CheckpointError, match="lie past the end"):
                ckpt.read("pv", (-1, 0))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(rows, tf1_partitioned.expected["pv"][2:7, ::-1])
    assert peak < 1 << 20


# The peak resident memory of this process's own image (VmHWM; ru_maxrss would keep pytest's
# from before the exec).
_PEAK_MEMORY = """
import re, sys
from ckpt_browser.cli import main
code = main(sys.argv[1:])
status = open("/proc/self/status").read()
print(int(re.search(r"VmHWM:\\s*(\\d+) kB", status).group(1)) << 10)
sys.exit(code)
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads Linux's VmHWM")
@pytest.mark.parametrize("case", ["huge partitioned", "huge partitioned, a hole", "huge and sized"])
def test_show_of_a_huge_declared_tensor_stays_small(hostile_shapes, case):
    """`show` as a user runs it: one `error:` line, exit 2, no traceback, and a peak resident
    memory of the interpreter with numpy, not of the 4 TiB the index declares."""
    prefix, name = hostile_shapes[case]
    run = subprocess.run(
        [sys.executable, "-c", _PEAK_MEMORY, "show", prefix, name],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2
    *warnings, error = run.stderr.splitlines()
    assert all(line.startswith("warning: ") for line in warnings)
    assert error.startswith("error: ") and SHAPE_CASES[case][2] in error
    assert int(run.stdout) < 200 << 20


# -- assembling any tiling --------------------------------------------------------------------


@st.composite
def tilings(draw) -> tuple[tuple[int, ...], list[list[tuple[int, int]]]]:
    """A shape and boxes that tile it, made by cutting boxes in two along any axis: grids and
    tilings no grid makes."""
    shape = tuple(draw(st.lists(st.integers(1, 5), min_size=1, max_size=3)))
    boxes = [[(0, size) for size in shape]]
    for _ in range(draw(st.integers(0, 6))):
        box = boxes.pop(draw(st.integers(0, len(boxes) - 1)))
        axis = draw(st.integers(0, len(shape) - 1))
        start, stop = box[axis]
        if stop - start < 2:
            boxes.append(box)
            continue
        cut = draw(st.integers(start + 1, stop - 1))
        boxes.append([*box[:axis], (start, cut), *box[axis + 1 :]])
        boxes.append([*box[:axis], (cut, stop), *box[axis + 1 :]])
    return shape, boxes


def regions(shape: tuple[int, ...]):
    """numpy basic indices into `shape`: an int or a slice (any step) per leading axis."""

    def axis_index(size: int):
        return st.one_of(
            st.integers(-size, size - 1),
            st.builds(
                slice,
                st.none() | st.integers(-size - 2, size + 2),
                st.none() | st.integers(-size - 2, size + 2),
                st.none() | st.integers(1, 3) | st.integers(-3, -1),
            ),
        )

    return st.integers(0, len(shape)).flatmap(
        lambda n: st.tuples(*(axis_index(size) for size in shape[:n]))
    )


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_any_region_of_any_tiling_reads_as_numpy_slices(tmp_path_factory, data):
    shape, boxes = data.draw(tilings())
    full = np.arange(math.prod(shape), dtype=np.int32).reshape(shape)
    prefix = str(tmp_path_factory.mktemp("tiling") / "model.ckpt")
    with CheckpointWriter(prefix) as writer:
        slices = [
            ([(start, stop - start) for start, stop in box], full[tuple(slice(*b) for b in box)])
            for box in data.draw(st.permutations(boxes))
        ]
        writer.add_partitioned("t", shape, np.int32, slices)
    region = data.draw(regions(shape))
    with open_checkpoint(prefix) as ckpt:
        np.testing.assert_array_equal(ckpt.read("t"), full)
        part = ckpt.read("t", region)
    assert part.shape == full[region].shape
    np.testing.assert_array_equal(part, full[region])


@given(
    st.lists(
        st.lists(st.tuples(st.integers(0, 6), st.integers(1, 3)), min_size=2, max_size=2),
        min_size=1,
        max_size=12,
    )
)
def test_overlapping_pair_is_found_whenever_two_boxes_share_an_element(extents):
    boxes = [tuple((start, start + length) for start, length in box) for box in extents]
    pairs = {
        (i, j)
        for j in range(len(boxes))
        for i in range(j)
        if all(max(a[0], b[0]) < min(a[1], b[1]) for a, b in zip(boxes[i], boxes[j]))
    }
    found = overlapping_pair(boxes)
    assert (found is None) == (not pairs)
    assert found is None or found in pairs


def test_an_empty_variant_tensor_reads_and_verifies(tf1_partitioned, tmp_path):
    """TensorFlow stores zero variant elements in zero bytes: the bound of elements by stored
    bytes must leave that legal."""

    def add_empty_variant(e: Entries) -> None:
        e[b"v"] = protos.BundleEntryProto(dtype=21, crc32c=mask(0))
        set_shape(e[b"v"], [0, 3])

    prefix = rewrite(tf1_partitioned.prefix, tmp_path, add_empty_variant)
    with open_checkpoint(prefix) as ckpt:
        assert ckpt.read("v").shape == (0, 3)
        assert ckpt.verify() == []


def test_a_slice_stored_under_another_shape_of_its_size_reads_as_tensorflow_reads(
    tf1_partitioned, tmp_path
):
    """TensorFlow lays a slice's values out by its extents and checks only that its entry's
    shape has as many elements: a slice of rows 4:7 declared [4, 3] reads as the original."""

    def transpose_shape(e: Entries) -> None:
        set_shape(stored_slice(e, "pv", 1), [4, 3])

    prefix = rewrite(tf1_partitioned.prefix, tmp_path, transpose_shape)
    tf = tfc.import_tensorflow()
    np.testing.assert_array_equal(
        tf.train.load_checkpoint(prefix).get_tensor("pv"), tf1_partitioned.expected["pv"]
    )
    with open_checkpoint(prefix) as ckpt:
        np.testing.assert_array_equal(ckpt.read("pv"), tf1_partitioned.expected["pv"])
        np.testing.assert_array_equal(ckpt.read("pv", (5,)), tf1_partitioned.expected["pv"][5])
        assert ckpt.verify() == []


def test_an_empty_slice_reads_as_tensorflow_reads_it(tf1_partitioned, tmp_path):
    """A slice of no element (rows 10:10) is still looked up and read by TensorFlow's reader:
    with its entry the tensor reads, without it neither reader reads it."""

    def add_empty_slice(e: Entries) -> None:
        extent = e[b"pv"].slices.add().extent
        extent.add(start=10, length=0)
        extent.add(start=0, length=4)
        key = slice_key("pv", ((10, 0), (0, 4)))
        e[key] = protos.BundleEntryProto(dtype=1, crc32c=mask(0))
        set_shape(e[key], [0, 4])

    prefix = rewrite(tf1_partitioned.prefix, tmp_path / "with", add_empty_slice)
    tf = tfc.import_tensorflow()
    expected = tf1_partitioned.expected["pv"]
    np.testing.assert_array_equal(tf.train.load_checkpoint(prefix).get_tensor("pv"), expected)
    with open_checkpoint(prefix) as ckpt:
        np.testing.assert_array_equal(ckpt.read("pv"), expected)
        assert ckpt.verify() == []

    def without_its_entry(e: Entries) -> None:
        add_empty_slice(e)
        del e[slice_key("pv", ((10, 0), (0, 4)))]

    prefix = rewrite(tf1_partitioned.prefix, tmp_path / "without", without_its_entry)
    assert not tensorflow_reads(prefix, "pv")
    missing = re.escape(f"slice [10:10, 0:4] {PV} is missing")
    with open_checkpoint(prefix) as ckpt, pytest.raises(CheckpointError, match=missing):
        ckpt.read("pv")


def test_an_empty_tensor_retyped_as_strings_reads_empty(tf1_partitioned, tmp_path):
    """No string in no bytes: TensorFlow reads an empty string tensor of stored size 0."""

    def empty_strings(e: Entries) -> None:
        e[b"s"] = protos.BundleEntryProto(dtype=7, crc32c=mask(0))
        set_shape(e[b"s"], [0])

    prefix = rewrite(tf1_partitioned.prefix, tmp_path, empty_strings)
    tf = tfc.import_tensorflow()
    assert tf.train.load_checkpoint(prefix).get_tensor("s").shape == (0,)
    with open_checkpoint(prefix) as ckpt:
        assert ckpt.read("s").shape == (0,)
        assert ckpt.verify() == []
