"""Failing fuzz runs kept as reproducers: reduced to the changes that still fail, and saved.

`minimize` puts the seed's bytes back wherever the failure stays without them (whole files first,
then each differing stretch of a file), so that a reproducer shows the few bytes that matter.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import shutil
import stat
from pathlib import Path

from fuzz_corpus import Seed
from fuzz_targets import folder_digest


def minimize(folder: str, seed: Seed, signature: str, still_fails_as, options) -> int:
    """Put back original bytes of the mutated files wherever the failure stays; the runs used."""
    src = os.path.join(folder, "src")
    runs = 0

    def still_fails() -> bool:
        nonlocal runs
        runs += 1
        return still_fails_as() == signature

    for relative in _changed_files(seed.folder, src):
        original, mutated = os.path.join(seed.folder, relative), os.path.join(src, relative)
        if not (os.path.isfile(original) and os.path.isfile(mutated)) or os.path.islink(mutated):
            continue
        old, new = Path(original).read_bytes(), Path(mutated).read_bytes()
        Path(mutated).write_bytes(old)
        if still_fails():
            continue
        if max(len(old), len(new)) > 300_000:
            Path(mutated).write_bytes(new)
            continue
        opcodes = [
            op
            for op in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes()
            if op[0] != "equal"
        ]
        keep = [True] * len(opcodes)
        for i in range(len(opcodes)):
            if runs >= options.minimize_runs:
                break
            keep[i] = False
            Path(mutated).write_bytes(_patch(old, new, opcodes, keep))
            if not still_fails():
                keep[i] = True
        Path(mutated).write_bytes(_patch(old, new, opcodes, keep))
    return runs


def _patch(old: bytes, new: bytes, opcodes: list, keep: list[bool]) -> bytes:
    out, position = bytearray(), 0
    for (_tag, i1, i2, j1, j2), kept in zip(opcodes, keep):
        out += old[position:i1]
        out += new[j1:j2] if kept else old[i1:i2]
        position = i2
    return bytes(out + old[position:])


def _changed_files(original: str, mutated: str) -> list[str]:
    before, after = folder_digest(original), folder_digest(mutated)
    return sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))


def copy_folder(source: str | Path, destination: str | Path) -> None:
    """Copy a case's files as they are: symbolic links as links, FIFOs as new FIFOs."""

    def copy(src: str, dst: str) -> None:
        if stat.S_ISFIFO(os.lstat(src).st_mode):
            os.mkfifo(dst)
        else:
            shutil.copy2(src, dst)

    shutil.copytree(source, destination, symlinks=True, copy_function=copy)


def save_failure(
    out: Path, folder: str, seed: Seed, number: int, options, verdict, changes, minimized_runs: int
) -> Path:
    kind, signature, detail = verdict
    slug = re.sub(r"[^A-Za-z0-9]+", "-", signature).strip("-")[:80]
    where = out / "failures" / re.sub(r"[^A-Za-z0-9]+", "-", kind) / slug / f"case-{number}"
    shutil.rmtree(where, ignore_errors=True)
    copy_folder(os.path.join(folder, "src"), where / "src")
    record = {
        "class": kind,
        "signature": signature,
        "detail": detail,
        "seed": seed.__dict__,
        "campaign_seed": options.seed,
        "run": number,
        "changes": changes,
        "changed_files_after_minimizing": _changed_files(seed.folder, str(where / "src")),
        "minimizing_runs": minimized_runs,
        "replay": f"python tests/fuzz/campaign.py --replay {where}",
    }
    (where / "case.json").write_text(json.dumps(record, indent=1))
    return where
