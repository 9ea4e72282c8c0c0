"""Archives of TensorFlow-made checkpoints, packed as releases ship them.

Google's BERT zip holds one folder (`uncased_L-12_H-768_A-12/`) with `bert_model.ckpt.*`, a
vocabulary and a config, and no `checkpoint` file; TF-Slim's models are `.tar.gz`. The release
folder here has that shape, written by TensorFlow's SaveV2; the archives are packed from it by
the standard library, stored or deflated, with the options a test asks for.
"""

from __future__ import annotations

import contextlib
import io
import os
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tf_checkpoints import import_tensorflow, write_with_tf

from ckpt_browser.format import open_checkpoint

MODEL_FOLDER = "uncased_L-2_H-64_A-2"
BIG = "bert/embeddings/word_embeddings"  # 2 MB: big enough that reading all of it shows


@dataclass(frozen=True)
class ReleaseFolder:
    root: Path  # what the archive holds: MODEL_FOLDER/ and nothing else
    prefix: str  # the checkpoint, locally: root/MODEL_FOLDER/bert_model.ckpt


def make_release_folder(directory: Path, model_folder: str = MODEL_FOLDER) -> ReleaseFolder:
    rng = np.random.default_rng(15)
    model = directory / "release" / model_folder
    model.mkdir(parents=True)
    prefix = write_with_tf(
        model / "bert_model.ckpt",
        {
            BIG: rng.standard_normal((2048, 256)).astype(np.float32),
            "bert/pooler/dense/kernel": rng.standard_normal((64, 64)).astype(np.float32),
            "bert/pooler/dense/bias": rng.standard_normal(64).astype(np.float16),
            "global_step": np.array(1_000_000, dtype=np.int64),
            "vocab_names": np.array([b"[CLS]", b"[SEP]", "é".encode()], dtype=object),
        },
    )
    (model / "vocab.txt").write_text("[PAD]\n[CLS]\n[SEP]\n")
    (model / "bert_config.json").write_text('{"hidden_size": 64}\n')
    return ReleaseFolder(directory / "release", prefix)


def files_of(folder: Path) -> list[tuple[Path, str]]:
    """Every file under `folder` with its member name (`/`-separated), sorted."""
    return sorted(
        (path, path.relative_to(folder).as_posix()) for path in folder.rglob("*") if path.is_file()
    )


def zip_folder(
    folder: Path,
    archive: Path,
    compression: int = zipfile.ZIP_STORED,
    *,
    rename=lambda name: name,
    extra: dict[str, bytes] | None = None,
) -> Path:
    """Pack `folder` into a zip; `rename` maps member names, `extra` adds members as given."""
    with zipfile.ZipFile(archive, "w", compression) as packed:
        for path, name in files_of(folder):
            packed.write(path, rename(name))
        for name, data in (extra or {}).items():
            packed.writestr(zipfile.ZipInfo(name), data)
    return archive


@contextlib.contextmanager
def zip64_everywhere() -> Iterator[None]:
    """Make zipfile write zip64 records for every member and the end of the directory, as it does
    past 4 GiB or 65,535 members (a real one would take gigabytes to make)."""
    saved = zipfile.ZIP64_LIMIT, zipfile.ZIP_FILECOUNT_LIMIT
    zipfile.ZIP64_LIMIT, zipfile.ZIP_FILECOUNT_LIMIT = 1, 1
    try:
        yield
    finally:
        zipfile.ZIP64_LIMIT, zipfile.ZIP_FILECOUNT_LIMIT = saved


def set_member_crc(archive: Path, name: str, crc: int) -> None:
    """Write another CRC-32 for `name` into the central directory (what readers check)."""
    data = bytearray(archive.read_bytes())
    encoded = name.encode()
    position = data.find(encoded)
    while position >= 0:
        header = position - 46
        if header >= 0 and data[header : header + 4] == b"PK\x01\x02":
            data[header + 16 : header + 20] = crc.to_bytes(4, "little")
            archive.write_bytes(bytes(data))
            return
        position = data.find(encoded, position + 1)
    raise AssertionError(f"{name} is not in the central directory of {archive}")


def tar_folder(
    folder: Path, archive: Path, mode: str = "w:gz", extra: dict[str, bytes] | None = None
) -> Path:
    """Pack `folder` into a tar (`mode` "w", "w:gz", "w:bz2", "w:xz"); `extra` adds members by
    name as given (`../evil.txt`)."""
    with tarfile.open(archive, mode) as packed:
        for path, name in files_of(folder):
            packed.add(path, name)
        for name, data in (extra or {}).items():
            member = tarfile.TarInfo(name)
            member.size = len(data)
            packed.addfile(member, io.BytesIO(data))
    return archive


def names_under(folder: str | os.PathLike) -> set[str]:
    return {path.relative_to(folder).as_posix() for path in Path(folder).rglob("*")}


def assert_reads_as_tensorflow(location: str, original_prefix: str) -> None:
    """Names, dtypes, shapes and every value equal TensorFlow's reading of the original."""
    reader = import_tensorflow().train.load_checkpoint(original_prefix)
    shapes = reader.get_variable_to_shape_map()
    with open_checkpoint(location) as ckpt:
        assert {name: info.shape for name, info in ckpt.items()} == {
            name: tuple(shape) for name, shape in shapes.items()
        }
        for name in ckpt:
            ours, theirs = ckpt.read(name), reader.get_tensor(name)
            if ours.dtype == object:
                assert ours.tolist() == np.asarray(theirs, dtype=object).tolist()
            else:
                assert ours.tobytes() == np.ascontiguousarray(theirs).tobytes(), name
