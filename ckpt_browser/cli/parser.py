"""The command line's options: the window's, and each subcommand's."""

from __future__ import annotations

import argparse

from ckpt_browser.cli.compute import add_cluster_options
from ckpt_browser.cli.diff import cmd_diff
from ckpt_browser.cli.export import cmd_export
from ckpt_browser.cli.graph import cmd_graph
from ckpt_browser.cli.history import cmd_history
from ckpt_browser.cli.ls import cmd_ls
from ckpt_browser.cli.output import (
    SUBCOMMANDS,
    UsageError,
)
from ckpt_browser.cli.remap import AppendRule, cmd_remap
from ckpt_browser.cli.show import cmd_show
from ckpt_browser.cli.unpack import cmd_unpack
from ckpt_browser.cli.verify import cmd_verify


def subcommand_parser() -> argparse.ArgumentParser:
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
    add_cluster_options(p)
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
    add_cluster_options(p)
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
        "--match-values",
        action="store_true",
        help="pair a name only one side has with the one tensor of the other side that has the "
        "same dtype, shape and values (always, when A or B is a frozen graph, unless --by-key)",
    )
    p.add_argument(
        "--params-only",
        action="store_true",
        help="leave out optimizer slots, counters, the object graph and a graph's shape and "
        "axis constants (always, when A or B is a frozen graph)",
    )
    p.add_argument(
        "--by-key", action="store_true", help="match raw checkpoint keys, not readable names"
    )
    _preset(p, "A is seen through the preset's names and layouts before it is compared")
    _allow_bad_checksums(p, "compare")
    add_cluster_options(p)
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
    rule = {"dest": "rules", "action": AppendRule}
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
    _preset(p, "its rules (names and layouts) come first, before --map's and the command line's")
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

    p = sub.add_parser(
        "history",
        help="a variable or scope across every checkpoint of a run, or the whole run",
        description="Statistics of NAME (a variable, or a scope: its parameters as one vector) "
        "in every checkpoint of DIR, oldest first, with the relative L2 change since the save "
        "before and since the first; without NAME, the relative change per save of each "
        "top-level scope. A checkpoint where NAME is missing or has another shape is a gap, one "
        "that cannot be read is marked and skipped. Results are cached in the user cache "
        "directory. Exit 0, or 1 when --fail-on-nan finds NaN or Inf, 2 on error.",
    )
    p.add_argument("directory", metavar="DIR", help="a run's directory (or a checkpoint in it)")
    p.add_argument(
        "name", nargs="?", metavar="NAME", help="a variable, or a scope such as net/dense"
    )
    p.add_argument("--json", action="store_true", help="one JSON record per checkpoint")
    p.add_argument(
        "--stat",
        metavar="NAME[,NAME...]",
        help="the statistics to show: norm, mean, std, min, max, max_abs, zero_share, nan_count, "
        "inf_count, count, quantiles (default: all but count and quantiles in the table, all "
        "in JSON)",
    )
    p.add_argument(
        "--fail-on-nan",
        action="store_true",
        help="exit 1 if the newest save of NAME (without NAME: any parameter of the newest "
        "checkpoint) holds NaN or Inf, or cannot be read; each one found is named on stderr",
    )
    p.add_argument(
        "--depth",
        type=int,
        default=1,
        help="without NAME: scopes this many levels below the parameters' common root (default 1)",
    )
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    add_cluster_options(p)
    p.set_defaults(run=cmd_history)

    p = sub.add_parser(
        "unpack",
        help="unpack a .tar.gz (or .tar, .tgz, .tar.bz2, .tar.xz) into the user cache directory",
        description="A compressed tar archive cannot be read at random: unpack it once into the "
        "user cache directory ($CKPT_BROWSER_CACHE_DIR to choose another), never beside the "
        "archive. Prints the folder; the archive's location then opens it too. Unpacking the same "
        "archive again is instant.",
    )
    p.add_argument("location", metavar="LOCATION", help="a path or URL of the archive")
    p.set_defaults(run=cmd_unpack)
    return parser


def _preset(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--preset",
        metavar="NAME",
        help=f"a shipped preset (tf-bert-to-hf, hf-to-tf-bert) or a preset's .json file: {what}",
    )


def _allow_bad_checksums(parser: argparse.ArgumentParser, verb: str) -> None:
    parser.add_argument(
        "--allow-bad-checksums",
        action="store_true",
        help=f"{verb} tensors whose stored checksum does not match (TensorFlow refuses them) "
        "with a warning, instead of stopping",
    )


def gui_parser() -> argparse.ArgumentParser:
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
    _preset(parser, "with two PATHs, the first is compared through it")
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ckpt-browser")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "(not installed)"


def parse_size(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise UsageError(f"bad --size {text!r}: expected WIDTHxHEIGHT such as 1400x900") from None
    if not (100 <= width <= 10000 and 100 <= height <= 10000):
        raise UsageError(f"bad --size {text!r}: width and height must be 100 to 10000")
    return width, height
