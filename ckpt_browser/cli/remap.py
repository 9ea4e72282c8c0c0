"""`ckpt-browser remap`: a new checkpoint with names mapped by rules, or a script for TensorFlow."""

from __future__ import annotations

import argparse

from ckpt_browser.cli.output import (
    EXIT_OK,
    UsageError,
    refused,
    say,
    warn,
)
from ckpt_browser.cli.progress import ProgressLine
from ckpt_browser.core.formatting import plural
from ckpt_browser.core.printable import printable
from ckpt_browser.format import ChecksumError
from ckpt_browser.format.atomic import atomic_output


def cmd_remap(args: argparse.Namespace) -> int:
    """Plan (and unless --dry-run, write) a checkpoint with names mapped onto a target's."""
    from ckpt_browser.core.formatting import format_bytes
    from ckpt_browser.core.remap.export import tensorflow_script
    from ckpt_browser.core.remap.plan import RemapInputs, build_plan
    from ckpt_browser.core.remap.presets import load_preset
    from ckpt_browser.core.remap.report import plan_lines, problem_lines
    from ckpt_browser.core.remap.safetensors_output import (
        is_safetensors_output,
        write_remap_safetensors,
    )
    from ckpt_browser.core.remap.spec import RemapSpec, load_spec, save_spec
    from ckpt_browser.core.remap.suggest import suggest
    from ckpt_browser.core.remap.write import write_remap

    if len(args.paths) < 2:
        raise UsageError("remap needs one or more sources and a destination: SRC [SRC2 ...] DST")
    *sources, destination = args.paths
    spec = load_spec(args.map) if args.map else RemapSpec()
    spec.sources = sources
    spec.target = args.target or spec.target
    preset_rules = load_preset(args.preset).rules if args.preset else ()
    spec.rules = [*preset_rules, *spec.rules, *(args.rules or [])]
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
            say("\n".join(plan_lines(plan, inputs)))
        for line in problem_lines(plan, suggest(plan, inputs) if plan.blocking else None):
            say(line)
        say(plan.summary())
        if plan.blocking:
            count = sum(len(p.names) for p in plan.blocking)
            raise UsageError(
                f"{plural(count, 'name')} would break a restore, so nothing was written; map "
                "them, or allow with --allow-reshape, --cast target or --keep-template"
            )
        if args.dry_run:
            return EXIT_OK
        try:
            writer = write_remap_safetensors if is_safetensors_output(destination) else write_remap
            with ProgressLine("remap") as line:
                result = writer(
                    plan,
                    inputs,
                    destination,
                    overwrite=args.force,
                    allow_bad_checksums=args.allow_bad_checksums,
                    progress=line.bytes,
                )
        except ChecksumError as exc:
            raise refused(exc, "writes the output anyway and says so") from None
    finally:
        inputs.close()
    for note in result.notes:
        say(f"note: {printable(note)}")
    for damaged in result.damaged:
        warn("warning", f"copied although its checksum does not match: {damaged}")
    verified = "read back and verified"
    if result.damaged:
        verified += (
            f", but {plural(len(result.damaged), 'tensor')} came from damaged source bytes "
            "(see the warnings) and TensorFlow restores them without noticing"
        )
    say(
        f"wrote {plural(result.tensors, 'tensor')} ({format_bytes(result.nbytes)}) to "
        f"{result.prefix} in {result.seconds:.2f} s; {verified}"
    )
    return EXIT_OK


class AppendRule(argparse.Action):
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
