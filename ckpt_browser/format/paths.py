"""From whatever path a user gives to a checkpoint prefix, and the history of a directory.

Users pass a training directory, a prefix (`model.ckpt-5000`), one of its files (`.index`,
`.data-00000-of-00001`, `.meta`), or a SavedModel directory. Legacy V1 checkpoints are files
without a suffix (`model.ckpt-7`) or sharded sets (`model.ckpt-3-00000-of-00002`), which
TensorFlow names by a glob (`model.ckpt-3-?????-of-00002`); as in TensorFlow, an `.index` beside
a prefix means V2, and otherwise the prefix is a V1 file or glob.

TF1's Saver writes absolute paths into the `checkpoint` file, which break when a directory is
copied elsewhere; such a path is looked up again beside the `checkpoint` file, as a user would
expect.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
from dataclasses import dataclass

from google.protobuf import text_format

from ckpt_browser.format import protos
from ckpt_browser.format.errors import CheckpointError
from ckpt_browser.format.sources import locations as where

STATE_FILE = "checkpoint"
# A `checkpoint` state file is short text: ~140 bytes per checkpoint it lists (a path and a
# timestamp), so 8 MB holds over 50,000 of them, more than any run keeps, and parses in under a
# second. Anything larger is not one.
STATE_FILE_MAX_BYTES = 8 << 20
_DATA_SUFFIX = re.compile(r"\.data-\d{5}-of-\d{5}$")
_STEP_SUFFIX = re.compile(r"-(\d+)$")
_V1_SHARD_SUFFIX = re.compile(r"-\d{5}-of-(\d{5})$")
_V1_GLOB_SUFFIX = re.compile(r"-\?{5}-of-\d{5}$")
# Files beside checkpoints that are never V1 checkpoint files, whatever their last bytes.
_NOT_V1 = re.compile(
    r"(\.index|\.meta|\.pb|\.pbtxt|\.json|\.txt|\.data-\d{5}-of-\d{5})$|\.tempstate"
)
# Names Savers give V1 checkpoint files: a file so named is opened as one even when damaged, so
# that the reader says what is wrong with it.
_V1_NAME = re.compile(r"(\.ckpt(-\d+)?|-\d{5}-of-\d{5})$")
_GLOB_ESCAPE = re.compile(r"\[([*?[])\]")  # what glob.escape wrote
_TABLE_MAGIC = bytes.fromhex("57fb808b247547db")


@dataclass(frozen=True)
class CheckpointRecord:
    """One checkpoint of a directory, as the history switcher lists it."""

    prefix: str
    step: int | None
    timestamp: float | None  # Unix seconds, from the `checkpoint` file or else the file time
    listed: bool  # named in the directory's `checkpoint` file

    @property
    def legacy(self) -> bool:
        """A V1 checkpoint (a file or sharded set with no `.index`)."""
        return not is_v2_prefix(self.prefix)


def step_of(prefix: str) -> int | None:
    """The global step a prefix is numbered with (`model.ckpt-5000` -> 5000, and the V1 glob
    `model.ckpt-3-?????-of-00002` -> 3), if any."""
    match = _STEP_SUFFIX.search(_V1_GLOB_SUFFIX.sub("", os.path.basename(prefix)))
    return int(match.group(1)) if match else None


def read_state(directory: str) -> protos.CheckpointState | None:
    """The directory's `checkpoint` file, or None when absent or unparsable (as TensorFlow does).

    Read as TensorFlow's `get_checkpoint_state` reads it, with protobuf's `text_format.Merge`:
    a field given twice is no error, the last `model_checkpoint_path` wins and repeated fields
    collect every value (`Parse` would refuse the file, and we would open another checkpoint).
    One that is not a regular file (a FIFO would block for ever) or is too large to be a state
    file raises CheckpointError.
    """
    path = os.path.join(directory, STATE_FILE)
    if not where.exists(path):
        return None
    data = where.read_capped(
        path,
        "the 'checkpoint' state file",
        STATE_FILE_MAX_BYTES,
        "a state file is short text naming checkpoints",
    )
    try:
        return text_format.Merge(data.decode("utf-8"), protos.CheckpointState())
    except (UnicodeDecodeError, text_format.ParseError):
        return None


def is_v2_prefix(prefix: str) -> bool:
    """TensorFlow's rule: a prefix with an `.index` beside it is V2 (even if a V1 file of the
    same name exists), any other is a V1 file or glob."""
    return where.exists(prefix + ".index")


def v1_files(prefix: str) -> list[str]:
    """The files a V1 prefix means: itself, or what it matches as a glob, sorted."""
    if glob.has_magic(prefix):
        return sorted(path for path in where.glob(prefix) if where.isfile(path))
    return [prefix] if where.exists(prefix) else []


def looks_like_v1_file(path: str) -> bool:
    """A regular file that ends like a LevelDB table and is not a V2 index: a V1 checkpoint."""
    if _NOT_V1.search(os.path.basename(path)) or not where.isfile(path):
        return False
    try:
        source = where.open_source(path, "file")
        try:
            return source.size >= 48 and bytes(source.read(source.size - 8, 8)) == _TABLE_MAGIC
        finally:
            source.close()
    except CheckpointError:
        return False


def v1_prefix_of_file(path: str) -> str:
    """The V1 prefix a checkpoint file belongs to: the glob of its set for a shard file."""
    match = _V1_SHARD_SUFFIX.search(path)
    if match is None:
        return path
    return glob.escape(path[: match.start()]) + f"-?????-of-{match.group(1)}"


def glob_like_v1_set(prefix: str) -> bool:
    """Whether a V1 prefix is the glob of a sharded set (`...-?????-of-00002`)."""
    return bool(_V1_GLOB_SUFFIX.search(prefix))


def _v1_prefix(path: str) -> str | None:
    """The V1 checkpoint a path means, if it means one: a V1 file (by its content, or by a name a
    Saver gives them), a glob matching files, or the un-suffixed prefix of a sharded set
    (`model.ckpt-3` for `model.ckpt-3-0000N-of-0000M`)."""
    if where.isfile(path):
        named = bool(_V1_NAME.search(os.path.basename(path)))
        return v1_prefix_of_file(path) if named or looks_like_v1_file(path) else None
    if glob.has_magic(path):
        return path if v1_files(path) else None
    shards = [
        name
        for name in where.glob(glob.escape(path) + "-?????-of-?????")
        if _V1_SHARD_SUFFIX.search(name) and where.isfile(name)
    ]
    return v1_prefix_of_file(sorted(shards)[0]) if shards else None


def v1_set_members(prefix: str) -> list[str]:
    """Every file a sharded V1 set's glob names (`...-00000-of-00002`, `...-00001-of-00002`),
    whether it exists or not; [] for any other prefix."""
    match = _V1_GLOB_SUFFIX.search(prefix)
    if match is None:
        return []
    base = _GLOB_ESCAPE.sub(r"\1", prefix[: match.start()])
    count = int(prefix[-5:])
    return [f"{base}-{i:05d}-of-{count:05d}" for i in range(count)]


def meta_file_of(prefix: str) -> str:
    """The `.meta` graph a Saver writes beside a checkpoint: `<prefix>.meta`, and for a sharded
    V1 set the prefix it was saved under (`model.ckpt-3.meta` for `model.ckpt-3-?????-of-00002`)."""
    if glob_like_v1_set(prefix):
        prefix = _GLOB_ESCAPE.sub(r"\1", _V1_GLOB_SUFFIX.sub("", prefix))
    return prefix + ".meta"


def _exists(prefix: str) -> bool:
    return is_v2_prefix(prefix) or bool(v1_files(prefix))


def _locate(directory: str, recorded: str) -> str:
    """A prefix named in a `checkpoint` file, preferring the file beside it.

    Relative paths are relative to the directory. An absolute path may point at the place the
    directory was copied from; the copy's own file of the same name is what the user means.
    """
    beside = os.path.join(directory, os.path.basename(recorded))
    if where.isabs(recorded) and _exists(beside):
        return where.abspath(beside)
    path = recorded if where.isabs(recorded) else os.path.join(directory, recorded)
    return where.abspath(path)


def _prefixes_on_disk(directory: str) -> list[str]:
    """Every checkpoint prefix in a directory: one per `.index`, per V1 file and per V1 set."""
    names = where.listdir(directory)
    prefixes = {os.path.join(directory, n[: -len(".index")]) for n in names if n.endswith(".index")}
    for name in names:
        path = os.path.join(directory, name)
        if not name.endswith(".index") and looks_like_v1_file(path):
            prefix = v1_prefix_of_file(path)
            if not is_v2_prefix(prefix):
                prefixes.add(prefix)
    return sorted(prefixes)


def history(directory: str) -> list[CheckpointRecord]:
    """Every checkpoint of a directory: those its `checkpoint` file lists, then any others.

    A `checkpoint` file that cannot be read (a FIFO, an absurd size) lists nothing: the history
    is what the directory holds, and opening a checkpoint of it by its prefix still works.
    """
    directory = where.abspath(directory)
    records: dict[str, CheckpointRecord] = {}
    try:
        state = read_state(directory)
    except CheckpointError:
        state = None
    if state is not None:
        timestamps = list(state.all_model_checkpoint_timestamps)
        paths = list(state.all_model_checkpoint_paths) or [state.model_checkpoint_path]
        for i, recorded in enumerate(p for p in paths if p):
            prefix = _locate(directory, recorded)
            if _exists(prefix):
                stamp = timestamps[i] if i < len(timestamps) else _mtime(prefix)
                records[prefix] = CheckpointRecord(prefix, step_of(prefix), stamp, True)
    for prefix in map(where.abspath, _prefixes_on_disk(directory)):
        if prefix not in records:
            records[prefix] = CheckpointRecord(prefix, step_of(prefix), _mtime(prefix), False)

    def order(record: CheckpointRecord) -> tuple:
        return (record.step is None, record.step or 0, record.timestamp or 0.0, record.prefix)

    return sorted(records.values(), key=order)


def _mtime(prefix: str) -> float | None:
    files = [prefix + ".index"] if is_v2_prefix(prefix) else v1_files(prefix)
    times = [where.mtime(path) for path in files]
    return max(times) if times and None not in times else None


def resolve_prefix(path: str) -> str:
    """The absolute checkpoint prefix a user's path means; CheckpointError if there is none."""
    path = where.normalize(path)
    if where.isdir(path):
        return _prefix_of_directory(path)
    if os.path.basename(path) == STATE_FILE and where.exists(path):
        return _prefix_of_directory(os.path.dirname(path) or ".")
    candidates = [path]
    if path.endswith(".index"):
        candidates = [path[: -len(".index")]]
    elif _DATA_SUFFIX.search(path):
        candidates = [_DATA_SUFFIX.sub("", path)]
    elif path.endswith(".meta"):
        prefix = path[: -len(".meta")]
        v1 = None if is_v2_prefix(prefix) else _v1_prefix(prefix)
        if v1 is not None:
            return where.abspath(v1)
        if not where.exists(prefix + ".index"):
            raise CheckpointError(
                f"this is a graph (.meta); its checkpoint {os.path.basename(prefix) + '.index'!r} "
                "is not beside it",
                path,
            )
        candidates = [prefix]
    # `exists`, not `isfile`: an index that is a FIFO or a device is the user's checkpoint, and
    # reading it says what is wrong with it rather than "no such file".
    for prefix in candidates:
        if where.exists(prefix + ".index"):
            return where.abspath(prefix)
    v1 = _v1_prefix(path)
    if v1 is not None:
        return where.abspath(v1)
    if where.isfile(path):
        raise CheckpointError(
            "not a checkpoint (expected a checkpoint directory, a prefix, its .index, .data-* "
            "or .meta file, or a V1 checkpoint file)",
            path,
        )
    if path.endswith(".index") or _DATA_SUFFIX.search(path):
        raise CheckpointError("no such file", path)
    raise CheckpointError("no such file, directory or checkpoint prefix", path)


# How many single folders deep a checkpoint is looked for (`release/model/step-5/`).
_NESTED_FOLDERS = 3


def _prefix_of_directory(directory: str, depth: int = 0) -> str:
    """The checkpoint a directory means. One with none of its own but a single folder inside
    means that folder (an archive such as Google's BERT zip holds `uncased_L-12_H-768_A-12/`),
    a few levels down."""
    saved_model_variables = os.path.join(directory, "variables", "variables")
    if where.exists(saved_model_variables + ".index"):
        return where.abspath(saved_model_variables)
    state = read_state(directory)
    if state is not None and state.model_checkpoint_path:
        prefix = _locate(directory, state.model_checkpoint_path)
        if _exists(prefix):
            return prefix
        raise CheckpointError(
            f"the 'checkpoint' file names {state.model_checkpoint_path!r}, but "
            f"{os.path.basename(prefix) + '.index'!r} does not exist (nor a V1 checkpoint file "
            "of that name)",
            os.path.join(directory, STATE_FILE),
        )
    on_disk = _prefixes_on_disk(directory)
    if not on_disk:
        inner = _only_folder(directory) if depth < _NESTED_FOLDERS else None
        if inner is not None:
            with contextlib.suppress(CheckpointError):  # nothing there either: say so of this one
                return _prefix_of_directory(inner, depth + 1)
        if where.isfile(os.path.join(directory, "saved_model.pb")):
            raise CheckpointError(
                "SavedModel without variables (variables/variables.index)", directory
            )
        raise CheckpointError(
            "no checkpoint here (no 'checkpoint' file, no *.index and no V1 checkpoint file)"
            + (_archive_hint(directory) if depth == 0 else ""),
            directory,
        )
    newest = max(on_disk, key=lambda p: (_mtime(p) or 0.0, step_of(p) or 0))
    return where.abspath(newest)


def _archive_hint(directory: str) -> str:
    """In an archive holding several checkpoints deeper down: which, to open one of them."""
    from ckpt_browser.format.sources.archives import checkpoint_folders

    top = directory.rstrip("/") + "/"
    inside = [folder.removeprefix(top) for folder in checkpoint_folders(directory)]
    if not inside:
        return ""
    listed = ", ".join(inside[:5]) + (f" and {len(inside) - 5} more" if len(inside) > 5 else "")
    return f"; the archive holds checkpoints in {listed}: open one of them"


def _only_folder(directory: str) -> str | None:
    """The one folder in a directory that holds nothing else but hidden files, if so."""
    names = [name for name in where.listdir(directory) if not name.startswith((".", "__MACOSX"))]
    if len(names) != 1:
        return None
    inner = os.path.join(directory, names[0])
    return inner if where.isdir(inner) else None


def existing_data_files(prefix: str) -> list[str]:
    """The `.data-NNNNN-of-NNNNN` files of `prefix` there are, whatever their shard count."""
    candidates = where.glob(glob.escape(prefix) + ".data-*-of-*")
    return sorted(path for path in candidates if _DATA_SUFFIX.fullmatch(path[len(prefix) :]))


def existing_checkpoint_files(prefix: str) -> list[str]:
    """The files of a checkpoint at `prefix` there are: what writing one there would replace."""
    index = prefix + ".index"
    return ([index] if os.path.lexists(index) else []) + existing_data_files(prefix)
