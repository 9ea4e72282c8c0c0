"""Everything a user does with a (mutated) checkpoint, run through ckpt-browser's public entries.

`exercise(path, ...)` opens the checkpoint, reads every tensor and a region of each, verifies,
runs the command line in-process (`ls`, `show`, `verify`, `export`, `graph`, `remap`) and loads
the graph, and returns what happened as a plain dict: digests of the values read, refusals (a
`CheckpointError`, or exit 2 with one `error:` line) and failures (a traceback, bad command-line
output, a source file changed, a remap output left half-written). It never imports TensorFlow;
`fuzz_verdict` compares the dict with what TensorFlow read.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import random
import re
import tokenize
import traceback

import numpy as np
from fuzz_oracle import digest

from ckpt_browser import cli
from ckpt_browser.format import CheckpointError, open_checkpoint, resolve_prefix

# Control characters a terminal acts on; tab and newline are all that output may contain.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\x9b]")
INJECTION_MARKER = "INJECTED"


class Failure(Exception):
    """A check failed: what the user would see, as a short class name and a detail."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


def folder_digest(folder: str) -> dict[str, str]:
    """Every regular file under `folder` and a digest of its bytes (what "unchanged" means)."""
    files = {}
    for root, _dirs, names in os.walk(folder):
        for name in names:
            path = os.path.join(root, name)
            relative = os.path.relpath(path, folder)
            if os.path.islink(path) or not os.path.isfile(path):
                files[relative] = "not a regular file"
                continue
            with open(path, "rb") as file:
                files[relative] = hashlib.sha1(file.read()).hexdigest()
    return files


def _traceback(exc: BaseException) -> dict:
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "ckpt_browser" in f.filename] or frames
    where = f"{os.path.basename(ours[-1].filename)}:{ours[-1].lineno}" if ours else "?"
    kind = "memory" if isinstance(exc, MemoryError) else "traceback"
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return {"kind": kind, "signature": f"{type(exc).__name__} at {where}", "text": text[-4000:]}


def _refusal(exc: CheckpointError) -> str:
    message = str(exc)
    if "\n" in message or "\r" in message:
        raise Failure("bad message", f"a CheckpointError of several lines: {message[:200]!r}")
    return message


def read_api(path: str, rng: random.Random) -> dict:
    """Open, list, read each tensor whole and one region of it, verify: as a library user."""
    result: dict = {}
    try:
        ckpt = open_checkpoint(path)
    except CheckpointError as exc:
        return {"error": _refusal(exc)}
    with ckpt:
        result["prefix"] = ckpt.prefix
        tensors = {}
        for name in list(ckpt):
            info = ckpt[name]
            record: dict = {"dtype": info.dtype.name, "shape": list(info.shape)}
            try:
                array = ckpt.read(name)
                record["digest"] = digest(array)
            except CheckpointError as exc:
                record["error"] = _refusal(exc)
                tensors[name] = record
                continue
            if array.dtype == object and not all(isinstance(x, bytes) for x in array.flat):
                raise Failure(
                    "silently wrong", f"{name!r} ({info.dtype.name}) holds items that are not bytes"
                )
            if tuple(array.shape) != tuple(info.shape):
                raise Failure(
                    "silently wrong", f"{name!r}: read shape {array.shape}, listed {info.shape}"
                )
            _check_region(ckpt, name, array, rng)
            tensors[name] = record
        result["tensors"] = tensors
        try:
            result["verify"] = {p.name: _oneline(p.message) for p in ckpt.verify()}
        except CheckpointError as exc:
            result["verify_error"] = _refusal(exc)
    return result


def _oneline(message: str) -> str:
    if "\n" in message:
        raise Failure("bad message", f"a verify message of several lines: {message[:200]!r}")
    return message


def _check_region(ckpt, name: str, array: np.ndarray, rng: random.Random) -> None:
    """A region read must equal the same region of the whole tensor."""
    if array.ndim == 0 or array.size == 0:
        return
    axis_size = array.shape[0]
    if rng.random() < 0.5:
        start = rng.randrange(axis_size)
        index = (slice(start, rng.randrange(start, axis_size + 2)),)
    else:
        index = (rng.randrange(-axis_size, axis_size),)
    if array.ndim > 1 and rng.random() < 0.5:
        index = (*index, slice(0, rng.randrange(1, array.shape[1] + 2)))
    try:
        region = ckpt.read(name, index)
    except CheckpointError as exc:
        raise Failure("inconsistent", f"{name!r}{index} refused ({exc}), the whole reads") from None
    if digest(region) != digest(array[index]):
        raise Failure(
            "silently wrong", f"{name!r}{index} differs from the same region of the whole tensor"
        )


def run_cli(args: list[str]) -> dict:
    """`ckpt-browser ARGS` in-process: exit code and output, checked as a terminal user sees it."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(args)
    stdout, stderr = out.getvalue(), err.getvalue()
    if code not in (0, 1, 2):
        raise Failure("bad exit", f"{args[0]} exited {code}")
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    if code == 2 and len(errors) != 1:
        raise Failure(
            "bad message", f"{args[0]} exited 2 with {len(errors)} error lines: {stderr[-300:]!r}"
        )
    if "Traceback" in stderr:
        raise Failure("traceback", f"{args[0]} printed a traceback: {stderr[-300:]!r}")
    control = _CONTROL.search(stdout + stderr)
    if control:
        context = (stdout + stderr)[max(0, control.start() - 40) :][:120]
        raise Failure("terminal escape", f"{args[0]} printed {control.group()!r}: {context!r}")
    return {"code": code, "stdout": stdout[-2000:], "stderr": stderr[-1000:]}


def check_script(path: str) -> None:
    """A generated script must tokenize, and no checkpoint name may reach it as code."""
    with open(path, "rb") as file:
        try:
            tokens = list(tokenize.tokenize(file.readline))
        except (tokenize.TokenError, SyntaxError) as exc:
            raise Failure("code injection", f"the exported script does not parse: {exc}") from None
    for token in tokens:
        if INJECTION_MARKER in token.string and token.type not in (
            tokenize.STRING,
            tokenize.COMMENT,
        ):
            raise Failure(
                "code injection",
                f"a name reached the script as code at line "
                f"{token.start[0]}: {token.line.strip()[:120]!r}",
            )
    with open(path, encoding="utf-8") as file:
        compile(file.read(), path, "exec")


def run_remap(source: str, out_folder: str, rng: random.Random, target: str | None) -> dict:
    """`remap SOURCE DST` (sometimes with --target and --export-script): a complete, readable
    output that holds the source's values, or nothing at all."""
    os.makedirs(out_folder, exist_ok=True)
    destination = os.path.join(out_folder, "remapped")
    args = ["remap", source, destination]
    script = None
    if target is not None and rng.random() < 0.5:
        args += ["--target", target, "--keep-template", "--allow-reshape"]
    if rng.random() < 0.3:
        args += rng.choice(
            [["--drop-optimizer"], ["--ema"], ["--rule", "net=model"], ["--regex", "(.*)=p/\\1"]]
        )
    if rng.random() < 0.5:
        script = os.path.join(out_folder, "restore.py")
        args += ["--export-script", script]
    result = run_cli(args)
    # The script is written from the plan, before any tensor is read: a complete file of its own.
    left = sorted(set(os.listdir(out_folder)) - {"restore.py"})
    if result["code"] != 0:
        if left:
            raise Failure(
                "output left", f"remap failed ({result['stderr'][-200:]!r}) but left {left}"
            )
        return {"code": result["code"], "message": result["stderr"][-300:]}
    if script is not None:
        check_script(script)
    with open_checkpoint(destination) as written:
        values = {name: digest(written.read(name)) for name in written}
        problems = written.verify()
    if problems:
        raise Failure("silently wrong", f"remap output fails its own verify: {problems[0]}")
    return {
        "code": 0,
        "tensors": values,
        "stdout": result["stdout"][-500:],
        "prefix": destination,
        "args": args[3:],
    }


def exercise(
    path: str | None,
    work: str,
    rng: random.Random,
    graph: str | None,
    original: str | None = None,
) -> dict:
    """All of the above on the checkpoint `path` (None for a lone graph) and the graph file
    `graph` that goes with it, if any; `diff` compares it with the `original` it was made from."""
    result: dict = {}
    step = "api"
    try:
        result["cli"] = []
        if path is not None:
            _exercise_checkpoint(path, work, rng, result, original)
        if graph is not None:
            step = "graph"
            result["graph"] = _load_graph(graph)
            result["cli"].append({"args": ["graph"], **run_cli(["graph", graph])})
        if path is not None and rng.random() < 0.25:
            step = "remap"
            result["remap"] = run_remap(path, os.path.join(work, "remap"), rng, graph)
    except Failure as failure:
        step = result.get("step", step)
        result["failure"] = {
            "kind": failure.kind,
            "signature": f"{failure.kind} in {step}",
            "text": failure.detail[:2000],
            "step": step,
        }
    except (Exception, MemoryError, RecursionError) as exc:
        result["failure"] = {**_traceback(exc), "step": result.get("step", step)}
    return result


def _exercise_checkpoint(
    path: str, work: str, rng: random.Random, result: dict, original: str | None
) -> None:
    result["api"] = read_api(path, rng)
    result["step"] = "cli"
    names = sorted(result["api"].get("tensors", {}))
    commands = [["ls", path], ["verify", path]]
    if rng.random() < 0.3:
        commands.append(["ls", path, "--json"])
    if original is not None and rng.random() < 0.2:
        commands.append(["diff", original, path, *rng.choice([[], ["--json"], ["--by-key"]])])
    if names:
        for name in rng.sample(names, min(2, len(names))):
            commands.append(["show", path, name, *rng.choice([[], [], ["--json"]])])
        if rng.random() < 0.3:
            output = os.path.join(work, "export", "out." + rng.choice(["npz", "npy", "csv"]))
            os.makedirs(os.path.dirname(output), exist_ok=True)
            commands.append(["export", path, names[0], "-o", output])
    for args in commands:
        outcome = run_cli(args)
        result["cli"].append({"args": args[:1] + args[2:], **outcome})


def _load_graph(path: str) -> dict:
    from ckpt_browser.core.graph.model import GraphModel
    from ckpt_browser.format.graph.reader import load_graph

    try:
        graph = load_graph(path)
        GraphModel(graph)
        graph.variables  # noqa: B018 (decoded on first use)
        graph.constants()
    except CheckpointError as exc:
        return {"error": _refusal(exc)}
    return {
        "kind": graph.kind,
        "tags": list(graph.tags),
        "nodes": [[n.name, n.op] for n in graph.nodes],
    }


def resolved_prefix(path: str) -> str | None:
    try:
        return resolve_prefix(path)
    except CheckpointError:
        return None
