"""A long fuzz campaign outside CI: mutate TensorFlow-written files, run ckpt-browser on them in a
worker process with time and memory limits, judge each run against TensorFlow, keep reproducers.

    python tests/fuzz/campaign.py --runs 50000 --seed 1 --jobs 2 --out fuzz-out

Each job is a pair of worker processes: one runs ckpt-browser (never TensorFlow) under an address
space limit, one runs TensorFlow's reader on the same files. A run that outlives `--timeout` is a
hang, a worker that dies is a crash, a MemoryError or a peak RSS over `--rss-mb` is memory. Each
failure is saved under OUT/failures/<class>/<signature>/ with the mutated files (reduced, when
`--minimize`, to the changes that still fail), `case.json` (seed, changes, traceback) and the
command that replays it: `python tests/fuzz/campaign.py --replay FOLDER`.

Driven by Python's `random` (seeded per run, so `--seed S` and a run number reproduce a case), not
atheris: the mutations know the formats (protobuf fields, table entries, slices, names), which a
byte-level coverage-guided fuzzer only rediscovers slowly.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from fuzz_corpus import Seed, make_corpus  # noqa: E402
from fuzz_reproducers import copy_folder, minimize, save_failure  # noqa: E402
from fuzz_verdict import OK_CLASSES, judge  # noqa: E402
from fuzz_workers import Worker, oracle_worker, target_worker  # noqa: E402

# -- one case -------------------------------------------------------------------------------------


def graph_of(seed: Seed, folder: str) -> str | None:
    """The graph file a seed carries, if any (what `graph` and `--target` get)."""
    if seed.kind == "saved_model":
        return os.path.join(folder, seed.target)
    if seed.kind == "graph":
        return os.path.join(folder, seed.target)
    metas = sorted(p for p in os.listdir(folder) if p.endswith(".meta"))
    return os.path.join(folder, metas[-1]) if metas else None


def run_case(
    folder: str,
    seed: Seed,
    rng_seed: str,
    target: Worker,
    oracle: Worker,
    options: argparse.Namespace,
) -> tuple[str, str, str]:
    """Exercise one mutated folder and judge it: (class, signature, detail)."""
    path = os.path.join(folder, "src", seed.target)
    work = os.path.join(folder, "work")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    graph = graph_of(seed, os.path.join(folder, "src"))
    if seed.kind == "graph":
        path = None  # a frozen graph has no checkpoint: the graph is all there is to open
    status, ours = target.ask(
        {
            "folder": os.path.join(folder, "src"),
            "path": path,
            "work": work,
            "rng": rng_seed,
            "graph": graph,
            "original": os.path.join(seed.folder, seed.target),
        },
        options.timeout,
    )
    if status != "ok":
        kind = "hang" if status == "hang" else "crash"
        return kind, f"{kind} ({seed.name})", status
    request = {
        "path": path or os.path.join(folder, "none"),
        "folder": os.path.join(folder, "src"),
        "prefix": ours.get("api", {}).get("prefix"),
    }
    graph_result = ours.get("graph")
    if graph_result and "kind" in graph_result:
        request["graph"] = {
            "path": graph if not os.path.isdir(graph) else os.path.join(graph, "saved_model.pb"),
            "kind": graph_result["kind"],
            "tags": graph_result["tags"],
        }
    remap = ours.get("remap")
    if remap and remap.get("code") == 0:
        request["dst"] = remap["prefix"]
    status, theirs = oracle.ask(request, options.timeout * 4)
    if status != "ok":
        theirs = {"read": {"error": f"TensorFlow {status}"}}
    return judge(ours, theirs)


def make_case(
    seeds: list[Seed], campaign_seed: int, number: int, into: str, families: list[str] | None = None
) -> tuple[Seed, list]:
    """Copy a seed (picked by the run's own random stream) into `into`/src and mutate it."""
    from fuzz_mutations import can_mutate, mutate_folder

    rng = random.Random(f"{campaign_seed}:{number}")
    seed = rng.choice([s for s in seeds if can_mutate(s.folder, families)])
    shutil.rmtree(into, ignore_errors=True)
    shutil.copytree(seed.folder, os.path.join(into, "src"), symlinks=True)
    changes = mutate_folder(os.path.join(into, "src"), rng, families)
    return seed, changes


# -- the campaign ---------------------------------------------------------------------------------


class Campaign:
    """Runs numbered cases on `options.jobs` pairs of workers and tallies their outcomes."""

    def __init__(self, options: argparse.Namespace) -> None:
        self.options = options
        self.out = Path(options.out).resolve()
        self.out.mkdir(parents=True, exist_ok=True)
        self.seeds = _corpus(self.out / "corpus")
        self.counts: Counter = Counter()
        self.signatures: Counter = Counter()
        self.restarts: Counter = Counter()
        self.saved: dict[str, Path] = {}
        self.lock = threading.Lock()
        self.numbers = iter(range(options.start, options.start + options.runs))
        self.started = time.monotonic()
        self.next_progress = options.progress

    def run(self) -> int:
        options = self.options
        scratch = tempfile.mkdtemp(prefix="ckpt-fuzz-", dir=options.scratch)
        try:
            with open(self.out / "campaign.log", "a") as log:
                threads = [
                    threading.Thread(target=self._job, args=(i, scratch, log), daemon=True)
                    for i in range(options.jobs)
                ]
                for thread in threads:
                    thread.start()
                try:
                    for thread in threads:
                        thread.join()
                except KeyboardInterrupt:
                    print("interrupted: finishing the runs under way", file=sys.stderr)
                    with self.lock:
                        self.numbers = iter(())
                    for thread in threads:
                        thread.join()
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        seconds = time.monotonic() - self.started
        report = _report(self.counts, self.signatures, self.saved, seconds, options)
        report += f"\nworker restarts after a hang or crash: {dict(self.restarts)}"
        print(report)
        name = f"report-seed{options.seed}-start{options.start}.txt"
        (self.out / name).write_text(report + "\n")
        return 1 if any(k not in OK_CLASSES for k in self.counts) else 0

    def _job(self, index: int, scratch: str, log) -> None:
        workers = tuple(
            Worker(role, self.options, str(self.out / f"{role}-{index}.log"))
            for role in ("target", "oracle")
        )
        folder = os.path.join(scratch, f"job{index}")
        try:
            while True:
                with self.lock:
                    number = next(self.numbers, None)
                if number is None:
                    return
                try:
                    self._one(number, folder, workers, log)
                except Exception as exc:  # the harness's own fault: count it, keep going
                    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
                    with self.lock:
                        self.counts["harness error"] += 1
                        self.signatures[f"harness error: {type(exc).__name__}: {exc}"] += 1
                        log.write(json.dumps({"run": number, "harness error": text}) + "\n")
                        log.flush()
                with self.lock:
                    done = sum(self.counts.values())
                    report = done >= self.next_progress
                    if report:
                        self.next_progress += self.options.progress
                if report:
                    _progress(self.counts, done, self.options.runs, self.started)
        finally:
            for worker in workers:
                worker.stop()
                with self.lock:
                    self.restarts[worker.role] += worker.restarts
            shutil.rmtree(folder, ignore_errors=True)

    def _one(self, number: int, folder: str, workers: tuple, log) -> None:
        options = self.options
        seed, changes = make_case(self.seeds, options.seed, number, folder, options.families)
        rng_seed = f"{options.seed}:{number}:run"
        verdict = run_case(folder, seed, rng_seed, *workers, options)
        kind = verdict[0]
        if kind in OK_CLASSES:
            with self.lock:
                self.counts[kind] += 1
            return
        signature = f"{verdict[1]} | {seed.name}"
        with self.lock:
            self.counts[kind] += 1
            self.signatures[signature] += 1
            keep = self.signatures[signature] <= options.keep
            record = {"run": number, "class": kind, "signature": signature, "changes": changes}
            log.write(json.dumps(record) + "\n")
            log.flush()
        if not keep:
            return
        runs = 0
        if options.minimize and kind not in ("hang", "crash"):

            def again() -> str:
                return run_case(folder, seed, rng_seed, *workers, options)[1]

            runs = minimize(folder, seed, verdict[1], again, options)
        where = save_failure(self.out, folder, seed, number, options, verdict, changes, runs)
        with self.lock:
            self.saved.setdefault(signature, where)


def _corpus(folder: Path) -> list[Seed]:
    if not (folder / "seeds.json").exists():
        code = (
            "import sys; sys.path.insert(0, sys.argv[1]); from pathlib import Path; "
            "import fuzz_corpus; fuzz_corpus.make_corpus(Path(sys.argv[2]))"
        )
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
        subprocess.run(
            [sys.executable, "-c", code, str(HERE), str(folder)],
            check=True,
            env=env,
            stderr=subprocess.DEVNULL,
        )
    return make_corpus(folder)


def _progress(counts: Counter, done: int, total: int, started: float) -> None:
    rate = done / max(time.monotonic() - started, 1e-9)
    failures = sum(v for k, v in counts.items() if k not in OK_CLASSES)
    print(f"{done}/{total} runs, {rate:.1f}/s, {failures} failing", file=sys.stderr, flush=True)


def _report(counts: Counter, signatures: Counter, saved: dict, seconds: float, options) -> str:
    total = sum(counts.values())
    lines = [
        f"{total} runs (seed {options.seed}, runs {options.start}..{options.start + total - 1},"
        f" {options.jobs} jobs) in {seconds / 60:.1f} min",
        "",
        "outcome class" + " " * 28 + "runs",
    ]
    for kind in (*OK_CLASSES, *sorted(k for k in counts if k not in OK_CLASSES)):
        marker = "" if kind in OK_CLASSES else "  FAILURE"
        lines.append(f"  {kind:<38} {counts.get(kind, 0):>7}{marker}")
    if signatures:
        lines += ["", "failures by signature (runs, first reproducer):"]
        for signature, n in signatures.most_common():
            lines.append(f"  {n:>6}  {signature}\n          {saved.get(signature, '')}")
    return "\n".join(lines)


def replay(folder: str, options: argparse.Namespace) -> int:
    """Run a saved reproducer again and print its verdict."""
    record = json.loads((Path(folder) / "case.json").read_text())
    seed = Seed(**record["seed"])
    seed = Seed(seed.name, str(Path(folder).resolve()), seed.target, seed.kind)
    scratch = tempfile.mkdtemp(prefix="ckpt-fuzz-replay-")
    try:
        copy_folder(os.path.join(folder, "src"), os.path.join(scratch, "src"))
        workers = (Worker("target", options), Worker("oracle", options))
        rng_seed = f"{record['campaign_seed']}:{record['run']}:run"
        verdict = run_case(scratch, seed, rng_seed, *workers, options)
        for worker in workers:
            worker.stop()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"class: {verdict[0]}\nsignature: {verdict[1]}\n{verdict[2]}")
    return 0 if verdict[0] in OK_CLASSES else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--start", type=int, default=0, help="first run number")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", default="fuzz-out")
    parser.add_argument("--scratch", default="/dev/shm" if os.path.isdir("/dev/shm") else None)
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds a run may take")
    parser.add_argument("--address-space-mb", type=int, default=3072)
    parser.add_argument("--rss-mb", type=int, default=1024, help="peak RSS that counts as memory")
    parser.add_argument("--keep", type=int, default=2, help="reproducers kept per signature")
    parser.add_argument("--minimize", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--minimize-runs", type=int, default=40)
    parser.add_argument("--progress", type=int, default=500)
    parser.add_argument(
        "--families",
        nargs="+",
        metavar="FAMILY",
        help="mutation families to use (default: all of fuzz_mutations.FAMILIES)",
    )
    parser.add_argument("--replay", metavar="FOLDER")
    parser.add_argument("--worker", choices=["target", "oracle"], help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.worker == "target":
        target_worker(options.address_space_mb, options.rss_mb)
        return 0
    if options.worker == "oracle":
        oracle_worker(options.timeout * 3)
        return 0
    if options.replay:
        return replay(options.replay, options)
    # Started in the background, a shell ignores SIGINT for us; SIGTERM too ends with the report.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    return Campaign(options).run()


if __name__ == "__main__":
    sys.exit(main())
