"""Coverage-guided fuzzing of the index reader with atheris (libFuzzer), outside CI.

    pip install atheris
    python tests/fuzz/atheris_index.py fuzz-out/atheris --keep-going -max_total_time=3600 \
        -timeout=10 -rss_limit_mb=4096

An input is one byte choosing a seed checkpoint, then the bytes of an `.index` read beside that
seed's data shards: opened, listed, every tensor read, verified, its shards checked. A
`CheckpointError` is a clean refusal; any other exception, a timeout or memory over the limit is
a crash that libFuzzer saves as `crash-*` / `timeout-*` / `oom-*` in the working directory
(with `--keep-going`, exceptions, MemoryError past 3 GiB and runs over 5 s are saved under
FOLDER/crashes/<exception at file:line>/ instead, a few inputs each, and fuzzing goes on). Half
the mutations are libFuzzer's own, half the campaign's structure-aware ones (entries, names,
slices, table layout), so coverage guides the mutations that know the format. TensorFlow is not
consulted here (it aborts on some inputs); `campaign.py` is the differential campaign.
"""

from __future__ import annotations

import hashlib
import os
import random
import resource
import shutil
import signal
import sys
import tempfile
import traceback
from pathlib import Path

import atheris

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

with atheris.instrument_imports(include=["ckpt_browser"]):
    from ckpt_browser.format import CheckpointError, open_checkpoint

from fuzz_corpus import make_corpus  # noqa: E402
from fuzz_index import mutate_index  # noqa: E402

WORK = Path(tempfile.mkdtemp(prefix="ckpt-atheris-"))
PREFIXES: list[Path] = []  # one prefix per seed, its data shards linked beside it
CRASHES: Path | None = None  # with --keep-going: where exceptions are saved
KEEP_PER_SIGNATURE = 3
HANG_SECONDS = 5


def prepare(corpus_folder: Path) -> list[bytes]:
    """Link every seed's data shards into WORK; return the starting inputs (the seeds' indexes)."""
    inputs = []
    for seed in make_corpus(corpus_folder / "seeds"):
        for index in sorted(Path(seed.folder).rglob("*.index")):
            number = len(PREFIXES)
            folder = WORK / f"seed{number}"
            folder.mkdir()
            prefix = folder / index.name[: -len(".index")]
            for shard in index.parent.glob(prefix.name + ".data-*"):
                os.symlink(shard, folder / shard.name)
            PREFIXES.append(prefix)
            inputs.append(bytes([number]) + index.read_bytes())
    return inputs


def test_one_input(data: bytes) -> None:
    if CRASHES is None:
        read_everything(data)
        return
    signal.setitimer(signal.ITIMER_REAL, HANG_SECONDS)
    try:
        read_everything(data)
    except Exception as exc:
        save_crash(data, exc)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


class Hang(Exception):
    """A run longer than HANG_SECONDS, raised where it was (saved like any exception)."""


def _hang(_signum, _frame) -> None:
    raise Hang(f"still running after {HANG_SECONDS} s")


def save_crash(data: bytes, exc: Exception) -> None:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "ckpt_browser" in f.filename]
    where = f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "harness"
    folder = CRASHES / f"{type(exc).__name__} at {where}"
    folder.mkdir(parents=True, exist_ok=True)
    if len(list(folder.glob("input-*"))) < KEEP_PER_SIGNATURE:
        name = hashlib.sha1(data).hexdigest()[:12]
        (folder / f"input-{name}").write_bytes(data)
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        (folder / f"input-{name}.txt").write_text(text)


def read_everything(data: bytes) -> None:
    if not data or not PREFIXES:
        return
    prefix = PREFIXES[data[0] % len(PREFIXES)]
    Path(str(prefix) + ".index").write_bytes(data[1:])
    try:
        with open_checkpoint(prefix) as ckpt:
            ckpt.check_shards()
            for name in ckpt:
                ckpt.read(name)
            ckpt.verify()
    except CheckpointError as exc:
        if "\n" in str(exc):
            raise AssertionError(f"an error of several lines: {exc}") from None


def custom_mutator(data: bytes, max_size: int, seed: int) -> bytes:
    rng = random.Random(seed)
    if len(data) > 1 and rng.random() < 0.5:
        try:
            mutated, _what = mutate_index(data[1:], rng)
        except Exception:  # the campaign's mutators expect a seed's structure, not any bytes
            return atheris.Mutate(data, max_size)
        return (data[:1] + mutated)[:max_size]
    return atheris.Mutate(data, max_size)


def main() -> None:
    global CRASHES
    folders = [a for a in sys.argv[1:] if not a.startswith("-")]
    corpus = Path(folders[0] if folders else "fuzz-out/atheris")
    if "--keep-going" in sys.argv:
        CRASHES = corpus / "crashes"
        # A runaway allocation then raises MemoryError, saved like any exception, before
        # libFuzzer's RSS limit (set it higher) would end the run.
        limit = 3 << 30
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        signal.signal(signal.SIGALRM, _hang)
    inputs_folder = corpus / "inputs"
    inputs_folder.mkdir(parents=True, exist_ok=True)
    for number, data in enumerate(prepare(corpus)):
        (inputs_folder / f"seed-{number}").write_bytes(data)
    flags = [a for a in sys.argv[1:] if a.startswith("-") and a != "--keep-going"]
    argv = [sys.argv[0], *flags, str(inputs_folder)]
    try:
        atheris.Setup(argv, test_one_input, custom_mutator=custom_mutator)
        atheris.Fuzz()
    finally:
        shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    main()
