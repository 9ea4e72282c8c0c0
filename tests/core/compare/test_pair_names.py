"""The names a compare title gives two checkpoints: the last part of each prefix, with parent
folders added only when those collide."""

from __future__ import annotations

import pytest

from ckpt_browser.core.compare.pair_names import checkpoint_name, pair_names


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        # two saves of one run: the names already differ
        ("/runs/exp/model-3000", "/runs/exp/model-5000", ("model-3000", "model-5000")),
        # two runs that both save as "model": the first differing folder is added
        ("/data/run1/model", "/data/run2/model", ("run1/model", "run2/model")),
        # the difference lies two folders up: every part from there down is kept
        ("/x/run1/ckpt/model", "/x/run2/ckpt/model", ("run1/ckpt/model", "run2/ckpt/model")),
        # paths of different depth
        ("/data/model", "/data/fine_tune/model", ("data/model", "fine_tune/model")),
        # one path is the other's tail: the shorter one is shown whole
        ("/model", "/backup/model", ("/model", "backup/model")),
        # URLs and Windows paths
        ("gs://bucket/a/model.ckpt", "gs://bucket/b/model.ckpt", ("a/model.ckpt", "b/model.ckpt")),
        (r"C:\runs\one\model", r"C:\runs\two\model", ("one/model", "two/model")),
        # a checkpoint against itself
        ("/data/run1/model", "/data/run1/model", ("model", "model")),
        # trailing separators do not count as a part
        ("/data/run1/model/", "/data/run2/model", ("run1/model", "run2/model")),
    ],
)
def test_pair_names(a: str, b: str, expected: tuple[str, str]) -> None:
    assert pair_names(a, b) == expected


def test_pair_names_tell_different_prefixes_apart() -> None:
    prefixes = ["/a/m", "/b/m", "/a/b/m", "/b/a/m", "/m", "m", "/a/m2", "/a/b/c/m"]
    for a in prefixes:
        for b in prefixes:
            name_a, name_b = pair_names(a, b)
            if a.strip("/") != b.strip("/"):
                assert name_a != name_b, (a, b)
            assert a.rstrip("/").endswith(name_a) and b.rstrip("/").endswith(name_b)


def test_a_saved_model_is_named_by_its_folder():
    assert checkpoint_name("/models/resnet/variables/variables") == "resnet"
    assert checkpoint_name("/runs/exp/model-3000") == "model-3000"
    assert checkpoint_name("variables/variables") == "variables"  # nothing above: the prefix's part
    assert pair_names("/a/net/variables/variables", "/b/net/variables/variables") == (
        "a/net",
        "b/net",
    )
