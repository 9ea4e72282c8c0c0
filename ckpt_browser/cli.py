"""The `ckpt-browser` command: the window by default, or a subcommand (`ls`, `show`, ...).

The command line is a contract (docs/design.md): scripts rely on the JSON keys and exit codes.
Bad input ends with exit 2 and one line `error: ...` on stderr, never a traceback. Names and paths
come from the files: what is printed for people goes through `printable`, so no name can add a line
or send the terminal an escape sequence (JSON escapes them itself). The GUI is imported only when
the window is wanted, so `ls` starts in a fraction of a second.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Sequence

import numpy as np

from ckpt_browser.core.formatting import plural
from ckpt_browser.core.printable import printable, printable_lines
from ckpt_browser.core.scope_tree import parameters_of
from ckpt_browser.core.text_report import (
    describe_tensor,
    json_default,
    json_one_item_per_line,
    variable_record,
)
from ckpt_browser.data_files import resource_path
from ckpt_browser.format import Checkpoint, CheckpointError, ChecksumError, open_checkpoint
from ckpt_browser.format.atomic import atomic_output
from ckpt_browser.format.names import name_of_key
from ckpt_browser.interrupts import EXIT_TERMINATED, Terminated, sigterm_interrupts

EXIT_OK, EXIT_DIFFERENT, EXIT_ERROR = 0, 1, 2

SUBCOMMANDS = ("ls", "show", "export", "verify", "diff", "remap", "graph")


class UsageError(Exception):
    """A request that cannot be carried out as asked (reported like bad input)."""


def demo_path() -> str:
    """The demo checkpoint shipped with the program (in the package when installed)."""
    demo = resource_path("demo")
    if demo is None:
        raise CheckpointError("the demo checkpoint is not installed (resources/demo is missing)")
    return str(demo)


# -- subcommands ----------------------------------------------------------------------------------


def _say(text: str, *, file=None) -> None:
    """Print lines of our own making, names in them already `printable`; anything else a name
    or a path could carry (an escape sequence, a bidi override) is escaped here too."""
    print(printable_lines(text), file=file or sys.stdout)


def _warn(kind: str, message: str) -> None:
    """One line `kind: message` on stderr, the message on one line whatever it holds."""
    print(f"{kind}: {printable(message)}", file=sys.stderr)


def _refused(exc: ChecksumError, anyway: str) -> UsageError:
    """A damaged source tensor stopped the command: say so, and how to go on anyway."""
    return UsageError(f"{exc}; nothing was written (--allow-bad-checksums {anyway})")


def _open(path: str) -> Checkpoint:
    """Open a checkpoint, printing what it lacks but opened without, and which tensors its data
    files cannot hold (what the window's bar says at open), as `warning: ...` lines."""
    ckpt = open_checkpoint(path)
    for warning in [*ckpt.check_shards().messages, *ckpt.warnings]:
        _warn("warning", warning)
    return ckpt


def _find(ckpt: Checkpoint, name: str) -> str:
    """The tensor a user means: its name as listed (see `format.names`), its key's own text (as
    TensorFlow lists it, or its bytes as a shell passes them) or a TF2 readable name; else a
    helpful error."""
    if name in ckpt:
        return name
    try:
        as_key = name_of_key(name.encode("utf-8", "surrogateescape"))
    except UnicodeEncodeError:  # a surrogate no bytes decode to
        as_key = None
    if as_key in ckpt:
        return as_key
    by_readable = [key for key, info in ckpt.items() if info.readable_name == name]
    if len(by_readable) == 1:
        return by_readable[0]
    import difflib

    close = difflib.get_close_matches(name, list(ckpt), n=3)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise CheckpointError(f"key {name!r} not found in checkpoint{hint}", ckpt.prefix)


def cmd_ls(args: argparse.Namespace) -> int:
    import re

    from ckpt_browser.core.formatting import format_bytes, format_shape

    with _open(args.path) as ckpt:
        names = list(ckpt)
        if args.filter:
            try:
                pattern = re.compile(args.filter)
            except re.error as exc:
                raise UsageError(f"bad --filter regex {args.filter!r}: {exc}") from None
            names = [n for n in names if pattern.search(n)]
        if args.json:
            variables = [variable_record(ckpt[n]) for n in names]
            print(json_one_item_per_line({"prefix": ckpt.prefix, "variables": variables}))
            return EXIT_OK
        shown = [printable(n) for n in names]
        width = max((len(n) for n in shown), default=4)
        lines = [f"{'name':<{width}}  {'dtype':<10} {'shape':<18} {'params':>12} {'bytes':>10}"]
        for name, shown_name in zip(names, shown):
            info = ckpt[name]
            lines.append(
                f"{shown_name:<{width}}  {info.dtype.name:<10} {format_shape(info.shape):<18} "
                f"{info.size:>12,} {format_bytes(info.nbytes):>10}"
            )
        total_params = sum(parameters_of(ckpt[n]) for n in names)
        total_bytes = sum(ckpt[n].nbytes for n in names)
        lines.append(
            f"{plural(len(names), 'tensor')}, {plural(total_params, 'parameter')}, "
            f"{format_bytes(total_bytes)} in {ckpt.prefix}"
        )
        _say("\n".join(lines))
    return EXIT_OK


def cmd_show(args: argparse.Namespace) -> int:
    from ckpt_browser.core.tensor.stats import compute_stats

    with _open(args.path) as ckpt:
        name = _find(ckpt, args.name)
        info = ckpt[name]
        array = ckpt.read(name)
        damaged = ckpt.checksum_problem(name)
        if damaged is not None:
            _warn("warning", f"these values are damaged: {damaged}")
        stats = compute_stats(array)
        record = {
            **variable_record(info),
            "readable_name": info.readable_name,
            "kind": info.kind.value,
            "shard": info.shard,
            "partitioned": info.partitioned,
            "slot_of": info.slot_of,
            "stats": dataclasses.asdict(stats),
        }
        if args.json:
            print(json.dumps(record, indent=1, default=json_default))
            return EXIT_OK
        _say(describe_tensor(info, stats))
        with np.printoptions(threshold=100, edgeitems=3, linewidth=100, precision=6):
            _say(str(array))
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    from ckpt_browser.core.tensor.export import ExportError, check_destination, export_tensors

    try:
        check_destination(args.output, len(args.names))
    except ExportError as exc:
        raise UsageError(str(exc)) from None
    with _open(args.path) as ckpt:
        keys = [_find(ckpt, n) for n in args.names]
        try:
            result = export_tensors(
                ckpt,
                keys,
                args.output,
                as_float32=args.as_float32,
                allow_bad_checksums=args.allow_bad_checksums,
            )
        except ExportError as exc:
            raise UsageError(str(exc)) from None
        except ChecksumError as exc:
            raise _refused(exc, "exports it anyway") from None
    for damaged in result.damaged:
        _warn("warning", f"exported although its checksum does not match: {damaged}")
    bad = f", {plural(len(result.damaged), 'damaged tensor')} among them" if result.damaged else ""
    _say(f"wrote {args.output}{bad}", file=sys.stderr)
    return EXIT_OK


def cmd_verify(args: argparse.Namespace) -> int:
    from ckpt_browser.core.formatting import format_bytes

    with _open(args.path) as ckpt:
        problems = ckpt.verify()
        total = sum(info.nbytes for info in ckpt.values())
        for problem in problems:
            _say(f"damaged: {printable(problem.name)}: {printable(problem.message)}")
        if problems:
            _say(f"{len(problems)} of {plural(len(ckpt), 'tensor')} damaged in {ckpt.prefix}")
            return EXIT_DIFFERENT
        _say(f"ok: {plural(len(ckpt), 'tensor')}, {format_bytes(total)} verified in {ckpt.prefix}")
    return EXIT_OK


def cmd_diff(args: argparse.Namespace) -> int:
    from ckpt_browser.core.compare.alignment import Alignment, PrefixRule
    from ckpt_browser.core.compare.checkpoints import CompareOptions, compare_checkpoints
    from ckpt_browser.core.compare.report import format_json, format_table

    try:
        alignment = Alignment(
            prefix_a=PrefixRule.from_options(args.strip_prefix_a, args.replace_prefix_a),
            prefix_b=PrefixRule.from_options(args.strip_prefix_b, args.replace_prefix_b),
            readable_names=not args.by_key,
            params_only=args.params_only,
        )
        options = CompareOptions(
            rtol=args.rtol,
            atol=args.atol,
            alignment=alignment,
            allow_bad_checksums=args.allow_bad_checksums,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    with _open(args.a) as a, _open(args.b) as b:
        try:
            comparison = compare_checkpoints(a, b, options)
        except ChecksumError as exc:
            raise UsageError(f"{exc} (--allow-bad-checksums compares it anyway)") from None
    for item in comparison.tensors:
        for damaged in item.damaged:
            _warn("warning", f"compared although its checksum does not match: {damaged}")
    if args.json:
        print(format_json(comparison))
    else:
        _say(format_table(comparison))
    return EXIT_OK if comparison.identical else EXIT_DIFFERENT


def cmd_remap(args: argparse.Namespace) -> int:
    """Plan (and unless --dry-run, write) a checkpoint with names mapped onto a target's."""
    from ckpt_browser.core.formatting import format_bytes
    from ckpt_browser.core.remap.export import tensorflow_script
    from ckpt_browser.core.remap.plan import RemapInputs, build_plan
    from ckpt_browser.core.remap.report import plan_lines, problem_lines
    from ckpt_browser.core.remap.spec import RemapSpec, load_spec, save_spec
    from ckpt_browser.core.remap.suggest import suggest
    from ckpt_browser.core.remap.write import write_remap

    if len(args.paths) < 2:
        raise UsageError("remap needs one or more sources and a destination: SRC [SRC2 ...] DST")
    *sources, destination = args.paths
    spec = load_spec(args.map) if args.map else RemapSpec()
    spec.sources = sources
    spec.target = args.target or spec.target
    spec.rules = [*spec.rules, *(args.rules or [])]
    spec.allow_reshape = spec.allow_reshape or args.allow_reshape
    spec.keep_template = spec.keep_template or args.keep_template
    spec.cast = args.cast or spec.cast
    try:
        spec.validate()
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    inputs = RemapInputs.open(spec)
    try:
        plan = build_plan(spec, inputs)
        if args.save_map:
            save_spec(spec, args.save_map)
        if args.export_script:
            with atomic_output(args.export_script, "w") as file:
                file.write(tensorflow_script(plan, [s.prefix for s in inputs.sources]))
        if args.dry_run:
            _say("\n".join(plan_lines(plan, inputs)))
        for line in problem_lines(plan, suggest(plan, inputs) if plan.blocking else None):
            _say(line)
        _say(plan.summary())
        if plan.blocking:
            count = sum(len(p.names) for p in plan.blocking)
            raise UsageError(
                f"{plural(count, 'name')} would break a restore, so nothing was written; map "
                "them, or allow with --allow-reshape, --cast target or --keep-template"
            )
        if args.dry_run:
            return EXIT_OK
        try:
            result = write_remap(
                plan,
                inputs,
                destination,
                overwrite=args.force,
                allow_bad_checksums=args.allow_bad_checksums,
            )
        except ChecksumError as exc:
            raise _refused(exc, "writes the output anyway and says so") from None
    finally:
        inputs.close()
    for note in result.notes:
        _say(f"note: {printable(note)}")
    for damaged in result.damaged:
        _warn("warning", f"copied although its checksum does not match: {damaged}")
    verified = "read back and verified"
    if result.damaged:
        verified += (
            f", but {plural(len(result.damaged), 'tensor')} came from damaged source bytes "
            "(see the warnings) and TensorFlow restores them without noticing"
        )
    _say(
        f"wrote {plural(result.tensors, 'tensor')} ({format_bytes(result.nbytes)}) to "
        f"{result.prefix} in {result.seconds:.2f} s; {verified}"
    )
    return EXIT_OK


class _AppendRule(argparse.Action):
    """Collect --rule, --regex, --drop, --keep, --ema, --drop-optimizer in command-line order."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        from ckpt_browser.core.remap import rules as remap_rules

        makers = {
            "--rule": remap_rules.parse_rename,
            "--regex": remap_rules.parse_regex,
            "--drop": lambda v: remap_rules.Rule("drop", v),
            "--keep": lambda v: remap_rules.Rule("keep", v),
            "--ema": lambda v: remap_rules.Rule("ema"),
            "--drop-optimizer": lambda v: remap_rules.Rule("drop_optimizer"),
        }
        try:
            rule = makers[option_string](values)
            rule.validate()
        except ValueError as exc:
            parser.error(str(exc))
        setattr(namespace, self.dest, [*(getattr(namespace, self.dest) or []), rule])


def cmd_graph(args: argparse.Namespace) -> int:
    from ckpt_browser.core.graph.model import GraphModel
    from ckpt_browser.core.graph.summary import graph_record, graph_summary, resolve_graph_path
    from ckpt_browser.format.graph.meta_graphs import format_tags, parse_tags
    from ckpt_browser.format.graph.reader import load_graph

    tags = parse_tags(args.tag) if args.tag is not None else None
    graph = load_graph(resolve_graph_path(args.path), tags=tags)
    others = [format_tags(t) for t in graph.meta_graphs if set(t) != set(graph.tags)]
    if tags is None and others:
        _warn(
            "note",
            f"showing the MetaGraph tagged {format_tags(graph.tags)!r}; "
            f"also here: {'; '.join(others)} (choose one with --tag)",
        )
    if args.json:
        print(json_one_item_per_line(graph_record(graph)))
    else:
        _say(graph_summary(GraphModel(graph)))
    for warning in graph.warnings:
        _warn("warning", warning)
    return EXIT_OK


# -- parsing --------------------------------------------------------------------------------------


def _subcommand_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ckpt-browser", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ls", help="list the tensors of a checkpoint")
    p.add_argument("path")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--filter", metavar="REGEX", help="only names matching REGEX (re.search)")
    p.set_defaults(run=cmd_ls)

    p = sub.add_parser("show", help="statistics and values of one tensor")
    p.add_argument("path")
    p.add_argument("name")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_show)

    p = sub.add_parser("export", help="write tensors to .npy, .npz or .csv")
    p.add_argument("path")
    p.add_argument("names", nargs="+", metavar="NAME")
    p.add_argument("-o", "--output", required=True, metavar="OUT")
    p.add_argument(
        "--as-float32",
        action="store_true",
        help="convert bfloat16/float16/float8 to float32 instead of keeping raw bits",
    )
    _allow_bad_checksums(p, "export")
    p.set_defaults(run=cmd_export)

    p = sub.add_parser("verify", help="check every checksum")
    p.add_argument("path")
    p.set_defaults(run=cmd_verify)

    p = sub.add_parser(
        "diff",
        help="compare two checkpoints (exit 0: same tensors and values, 1: they differ)",
        description="Status and distances of every name in A or B, most changed first. "
        "Names are matched by readable name (TF2: object path). A distance that does not apply "
        "is blank (null in JSON). Exit 0 when both hold the same names with equal values "
        "(close, with --rtol/--atol), 1 when they differ, 2 on error.",
    )
    p.add_argument("a", metavar="A")
    p.add_argument("b", metavar="B")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument(
        "--rtol", type=float, default=0.0, help="relative tolerance, as np.isclose (default 0)"
    )
    p.add_argument(
        "--atol", type=float, default=0.0, help="absolute tolerance, as np.isclose (default 0)"
    )
    for side in ("a", "b"):
        p.add_argument(
            f"--strip-prefix-{side}",
            metavar="P",
            help=f"remove prefix P from the names of {side.upper()}",
        )
        p.add_argument(
            f"--replace-prefix-{side}",
            metavar="OLD=NEW",
            help=f"replace prefix OLD by NEW in the names of {side.upper()}",
        )
    p.add_argument(
        "--params-only",
        action="store_true",
        help="leave out optimizer slots, counters and the object graph",
    )
    p.add_argument(
        "--by-key", action="store_true", help="match raw checkpoint keys, not readable names"
    )
    _allow_bad_checksums(p, "compare")
    p.set_defaults(run=cmd_diff)

    p = sub.add_parser(
        "remap",
        help="write a checkpoint with names mapped onto what a target wants",
        description="Map the names of one or more source checkpoints onto new names (rules in "
        "the order given), check them against a target, and write DST, a new checkpoint prefix "
        "that TensorFlow restores as it is. Problems that would break a restore stop with exit 2.",
    )
    p.add_argument(
        "paths", nargs="+", metavar="PATH", help="SRC [SRC2 ...] DST: the sources, then the output"
    )
    rule = {"dest": "rules", "action": _AppendRule}
    p.add_argument("--rule", metavar="OLD=NEW", help="rename scope a/=b/, or one name a=b", **rule)
    p.add_argument("--regex", metavar="PATTERN=REPLACEMENT", help="re.sub on every name", **rule)
    p.add_argument("--drop", metavar="REGEX", help="drop names matching REGEX", **rule)
    p.add_argument("--keep", metavar="REGEX", help="keep only names matching REGEX", **rule)
    p.add_argument("--ema", nargs=0, help="take x/ExponentialMovingAverage as x", **rule)
    p.add_argument("--drop-optimizer", nargs=0, help="drop optimizer slots", **rule)
    p.add_argument(
        "--target",
        metavar="PATH",
        help="a .meta graph (copied beside DST), a template checkpoint or a SavedModel",
    )
    p.add_argument("--map", metavar="MAP.json", help="a mapping saved by the wizard or --save-map")
    p.add_argument(
        "--allow-reshape", action="store_true", help="reshape when the element count matches"
    )
    p.add_argument(
        "--cast",
        metavar="DTYPE",
        help="'target': cast to the target's dtypes; a dtype (bfloat16): cast floats to it",
    )
    p.add_argument(
        "--keep-template",
        action="store_true",
        help="target names without a source keep the template's value",
    )
    p.add_argument("--dry-run", action="store_true", help="print the plan and problems only")
    p.add_argument("--force", action="store_true", help="overwrite DST's files if they exist")
    _allow_bad_checksums(p, "copy")
    p.add_argument("--save-map", metavar="MAP.json", help="save the mapping as JSON")
    p.add_argument(
        "--export-script",
        metavar="OUT.py",
        help="write the mapping as TensorFlow assignment_map / Saver var_list code",
    )
    p.set_defaults(run=cmd_remap)

    p = sub.add_parser(
        "graph", help="the graph (.meta, frozen .pb, SavedModel): nodes, ops, scopes"
    )
    p.add_argument(
        "path", help="a graph file, a SavedModel directory or a checkpoint beside a .meta"
    )
    p.add_argument("--json", action="store_true", help="every node and variable as JSON")
    p.add_argument(
        "--tag",
        metavar="TAG[,TAG...]",
        help="the SavedModel MetaGraph with this tag set (e.g. train, serve,gpu); default serve",
    )
    p.set_defaults(run=cmd_graph)
    return parser


def _allow_bad_checksums(parser: argparse.ArgumentParser, verb: str) -> None:
    parser.add_argument(
        "--allow-bad-checksums",
        action="store_true",
        help=f"{verb} tensors whose stored checksum does not match (TensorFlow refuses them) "
        "with a warning, instead of stopping",
    )


def _gui_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ckpt-browser",
        description="Look inside TensorFlow checkpoints. Subcommands: " + ", ".join(SUBCOMMANDS),
    )
    parser.add_argument(
        "paths", nargs="*", metavar="PATH", help="one checkpoint, or two to compare"
    )
    parser.add_argument("--demo", action="store_true", help="open the bundled demo checkpoint")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    parser.add_argument("--select", metavar="NAME", help="select this variable")
    parser.add_argument("--screenshot", metavar="OUT.png", help="save the window as PNG and exit")
    parser.add_argument("--size", metavar="WxH", help="window size, e.g. 1400x900")
    parser.add_argument(
        "--graph", action="store_true", help="show the graph panel (and wait for it to draw)"
    )
    parser.add_argument(
        "--debug", action="store_true", help="print the traceback of unexpected errors on stderr"
    )
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ckpt-browser")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "(not installed)"


def _parse_size(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise UsageError(f"bad --size {text!r}: expected WIDTHxHEIGHT such as 1400x900") from None
    if not (100 <= width <= 10000 and 100 <= height <= 10000):
        raise UsageError(f"bad --size {text!r}: width and height must be 100 to 10000")
    return width, height


def _run_gui(argv: Sequence[str]) -> int:
    args = _gui_parser().parse_args(argv)
    paths = list(args.paths)
    if args.demo:
        paths = [demo_path(), *paths]
    if len(paths) > 2:
        raise UsageError("give one checkpoint to open, or two to compare")
    size = _parse_size(args.size)
    from ckpt_browser.ui.app import run_gui

    return run_gui(
        paths,
        select=args.select,
        screenshot=args.screenshot,
        size=size,
        graph=args.graph,
        debug=args.debug,
    )


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] in SUBCOMMANDS:
            args = _subcommand_parser().parse_args(argv)
            with sigterm_interrupts():
                return args.run(args)
        return _run_gui(argv)
    except (CheckpointError, UsageError) as exc:
        _warn("error", str(exc))
        return EXIT_ERROR
    except BrokenPipeError:
        # Output piped into `head`: stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        _warn("error", f"{where}{exc.strerror or exc}")
        return EXIT_ERROR
    except Terminated:
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
