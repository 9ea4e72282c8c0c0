"""`ckpt-browser diff`: two checkpoints, name by name, with distances."""

from __future__ import annotations

import argparse
from dataclasses import replace

from ckpt_browser.cli.compute import cluster_runner
from ckpt_browser.cli.output import (
    EXIT_DIFFERENT,
    EXIT_OK,
    UsageError,
    open_with_warnings,
    say,
    warn,
)
from ckpt_browser.cli.progress import ProgressLine
from ckpt_browser.format import ChecksumError


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
            match_values=args.match_values,
        )
        options = CompareOptions(
            rtol=args.rtol,
            atol=args.atol,
            alignment=alignment,
            allow_bad_checksums=args.allow_bad_checksums,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    preset = None
    if args.preset:
        from ckpt_browser.core.remap.presets import load_preset

        preset = load_preset(args.preset)
    with open_with_warnings(args.a) as opened_a, open_with_warnings(args.b) as b:
        a = opened_a
        if preset is not None:
            from ckpt_browser.core.remap.view import RemappedCheckpoint

            a = RemappedCheckpoint(opened_a, preset.rules, preset.name)
            for note in a.warnings[len(opened_a.warnings) :]:
                warn("warning", note)
        if "graph" in (a.format_name, b.format_name):
            # A frozen graph holds the model alone, under names its freezer chose (TF2's name
            # constants after the ops that read them): as in the compare window, compare model
            # variables and pair by value what no name pairs.
            by_value = alignment.match_values or alignment.readable_names  # not with --by-key
            frozen = replace(alignment, params_only=True, match_values=by_value)
            options = replace(options, alignment=frozen)
        try:
            with ProgressLine("diff") as line, cluster_runner(args) as runner:
                if runner is None:
                    comparison = compare_checkpoints(a, b, options, progress=line.fraction)
                else:
                    from ckpt_browser.core.compare.tasks import compare_with

                    comparison = compare_with(runner, a, b, options, progress=line.fraction)
        except ChecksumError as exc:
            raise UsageError(f"{exc} (--allow-bad-checksums compares it anyway)") from None
    for item in comparison.tensors:
        for damaged in item.damaged:
            warn("warning", f"compared although its checksum does not match: {damaged}")
    if args.json:
        print(format_json(comparison))
    else:
        say(format_table(comparison))
    return EXIT_OK if comparison.identical else EXIT_DIFFERENT
