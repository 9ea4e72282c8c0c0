"""Fuzzing in CI: mutated TensorFlow-written files through ckpt-browser, judged against TensorFlow.

The mutations, workers and verdicts are the long campaign's (`campaign.py`, run outside CI); here
hypothesis picks a few hundred runs, derandomized and without a database, so every CI run is the
same and takes well under a minute. ckpt-browser runs in a worker process with a time and an
address-space limit, TensorFlow in another (it aborts on some damaged files).

`test_no_new_failure_class` fails on any failure outside `KNOWN_OPEN`: the defects of issue 11
that are still being fixed, each matched narrowly by its family and signature. Each known one
also has its own test, expected to fail until the fix lands (then it passes: remove its entry).
"""

from __future__ import annotations

import argparse
import re
import shutil

import pytest
from campaign import make_case, run_case
from fuzz_corpus import make_corpus
from fuzz_verdict import OK_CLASSES
from fuzz_workers import Worker
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

# family -> [(pattern over "class: signature", the issue item that covers it)]
KNOWN_OPEN: dict[str, list[tuple[str, str]]] = {
    "*": [],
}
FAMILIES = [
    "index-bytes",
    "index-fields",
    "index-names",
    "index-slices",
    "data",
    "v1-bytes",
    "v1-fields",
    "state",
    "graph",
    "files",
]


class Fuzz:
    """The seeds and the two workers, shared by the tests of this module."""

    def __init__(self, folder) -> None:
        self.seeds = make_corpus(folder / "corpus")
        self.scratch = folder / "case"
        self.options = argparse.Namespace(timeout=20.0, address_space_mb=3072, rss_mb=1024)
        self.workers = (Worker("target", self.options), Worker("oracle", self.options))

    def run(self, number: int, family: str) -> tuple[tuple[str, str, str], list[str]]:
        seed, changes = make_case(self.seeds, 11, number, str(self.scratch), [family])
        try:
            verdict = run_case(
                str(self.scratch), seed, f"11:{number}:run", *self.workers, self.options
            )
        finally:
            shutil.rmtree(self.scratch, ignore_errors=True)
        return verdict, changes

    def close(self) -> None:
        for worker in self.workers:
            worker.stop()


@pytest.fixture(scope="module")
def fuzz(tmp_path_factory):
    fuzz = Fuzz(tmp_path_factory.mktemp("fuzz"))
    yield fuzz
    fuzz.close()


def known_open(family: str, verdict: tuple[str, str, str]) -> str | None:
    """The issue item a failure belongs to, if it is one still being fixed."""
    text = f"{verdict[0]}: {verdict[1]}: {verdict[2]}"
    rules = [
        rule
        for key, rules in KNOWN_OPEN.items()
        if family in key.split("+") or key == "*"
        for rule in rules
    ]
    for pattern, item in rules:
        if re.search(pattern, text):
            return item
    return None


RUNS = settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],  # a run number does not shrink usefully
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def test_seeds_read_as_tensorflow_reads_them(fuzz, tmp_path):
    """The oracle itself: unchanged seeds give TensorFlow's listing and values."""
    for seed in fuzz.seeds:
        shutil.copytree(seed.folder, tmp_path / seed.name / "src")
        verdict = run_case(str(tmp_path / seed.name), seed, "seed", *fuzz.workers, fuzz.options)
        assert verdict[0] == "same as TensorFlow", (seed.name, verdict)


@pytest.mark.parametrize("family", FAMILIES)
@RUNS
@given(number=st.integers(0, 2**32 - 1))
def test_no_new_failure_class(fuzz, family, number):
    """Any mutation gives TensorFlow's values, a clean refusal, or a defect already known."""
    verdict, changes = fuzz.run(number, family)
    if verdict[0] not in OK_CLASSES:
        assert known_open(family, verdict), f"{verdict} after {changes}"


# The known defects that a few runs reliably find (the others are rarer: the campaign finds them).
SENTINELS: set[str] = set()
KNOWN_CASES = [
    pytest.param(family, pattern, marks=pytest.mark.xfail(reason=item, strict=False))
    for family, rules in KNOWN_OPEN.items()
    for pattern, item in rules
    if pattern in SENTINELS
]


@pytest.mark.parametrize(("family", "pattern"), KNOWN_CASES)
@settings(RUNS, max_examples=12)
@given(number=st.integers(0, 2**32 - 1))
def test_known_open_defect_is_gone(fuzz, family, pattern, number):
    """Each known defect, on its own: fails until its fix lands."""
    families = family.split("+") if family != "*" else ["data", "index-names"]
    verdict, changes = fuzz.run(number, families[number % len(families)])
    text = f"{verdict[0]}: {verdict[1]}: {verdict[2]}"
    assert not re.search(pattern, text), f"{verdict} after {changes}"
