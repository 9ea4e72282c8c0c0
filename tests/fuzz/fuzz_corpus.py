"""The seeds a fuzz campaign mutates: small checkpoints, graphs and SavedModels TensorFlow wrote.

Each seed is a folder holding every file of one checkpoint (prefix files or legacy V1 files, the
`checkpoint` state file, a `.meta`), a SavedModel or a frozen graph; `Seed.target` is what a user
would open in it. The campaign makes them once into its output folder; the CI tests get the same
files from the session fixtures of `tests/conftest.py`.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tf_checkpoints, tf_training_checkpoints


@dataclass(frozen=True)
class Seed:
    """One folder of TensorFlow-written files and what to open in it."""

    name: str
    folder: str
    target: str  # relative to folder: a prefix, a directory, a SavedModel or a .pb
    kind: str  # "checkpoint", "saved_model" or "graph"

    def path(self, folder: str | None = None) -> str:
        return os.path.join(folder or self.folder, self.target)


def _prefix_seed(name: str, prefix: str, into: Path, whole_directory: bool = False) -> Seed:
    """Copy a prefix's files (or its whole directory, with the `checkpoint` file) into `into`."""
    source = Path(prefix).parent
    into.mkdir(parents=True, exist_ok=True)
    base = Path(prefix).name
    for file in source.iterdir():
        if file.is_file() and (whole_directory or file.name.startswith(base + ".")):
            shutil.copy(file, into / file.name)
    return Seed(name, str(into), "." if whole_directory else base, "checkpoint")


def make_corpus(folder: Path) -> list[Seed]:
    """Write the seeds into `folder` (made once; later calls read `seeds.json`)."""
    listing = folder / "seeds.json"
    if listing.exists():
        return [Seed(**item) for item in json.loads(listing.read_text())]
    import fuzz_v1_seeds
    import tf_checkpoints as tfc
    import tf_training_checkpoints as tft

    work = folder / "made"
    seeds = [
        _prefix_seed(
            "all_dtypes",
            tfc.make_all_dtypes_ckpt(work / "all_dtypes").prefix,
            folder / "all_dtypes",
        ),
        _prefix_seed("sharded", tfc.make_sharded_ckpt(work / "sharded").prefix, folder / "sharded"),
        _prefix_seed(
            "tf1_partitioned",
            tft.make_tf1_partitioned(work / "partitioned").prefix,
            folder / "tf1_partitioned",
        ),
        _prefix_seed(
            "tf1_training",
            tft.make_tf1_training_dir(work / "training").prefix,
            folder / "tf1_training",
            whole_directory=True,
        ),
        _prefix_seed(
            "tf2_module",
            tft.make_tf2_module_ckpt(work / "module").prefix,
            folder / "tf2_module",
            whole_directory=True,
        ),
        _prefix_seed(
            "tf2_strings",
            tft.make_scalars_and_strings_ckpt(work / "strings").prefix,
            folder / "tf2_strings",
        ),
        _prefix_seed(
            "tf2_sharded", tft.make_tf2_sharded_ckpt(work / "tf2_sharded"), folder / "tf2_sharded"
        ),
    ]
    for name, make, target in (
        ("v1_unsharded", fuzz_v1_seeds.make_v1_unsharded, "model.ckpt-7"),
        ("v1_sharded", fuzz_v1_seeds.make_v1_sharded, "."),
    ):
        make(work / name)
        shutil.copytree(work / name, folder / name)
        seeds.append(Seed(name, str(folder / name), target, "checkpoint"))
    saved = tft.make_savedmodel_dir(work / "saved_model")
    shutil.copytree(saved.directory, folder / "saved_model" / "model")
    seeds.append(Seed("saved_model", str(folder / "saved_model"), "model", "saved_model"))
    frozen = tft.make_frozen_pb(work / "frozen")
    (folder / "frozen").mkdir()
    shutil.copy(frozen.path, folder / "frozen" / "frozen.pb")
    seeds.append(Seed("frozen_pb", str(folder / "frozen"), "frozen.pb", "graph"))
    shutil.rmtree(work)
    listing.write_text(json.dumps([asdict(seed) for seed in seeds], indent=1))
    return seeds
