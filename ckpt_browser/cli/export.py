"""`ckpt-browser export`: tensors to .npy, .npz or .csv, written atomically."""

from __future__ import annotations

import argparse
import sys

from ckpt_browser.cli.output import (
    EXIT_OK,
    UsageError,
    find_tensor,
    open_with_warnings,
    refused,
    say,
    warn,
)
from ckpt_browser.core.formatting import plural
from ckpt_browser.format import ChecksumError


def cmd_export(args: argparse.Namespace) -> int:
    from ckpt_browser.core.tensor.export import ExportError, check_destination, export_tensors

    try:
        check_destination(args.output, len(args.names))
    except ExportError as exc:
        raise UsageError(str(exc)) from None
    with open_with_warnings(args.path) as ckpt:
        keys = [find_tensor(ckpt, n) for n in args.names]
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
            raise refused(exc, "exports it anyway") from None
    for damaged in result.damaged:
        warn("warning", f"exported although its checksum does not match: {damaged}")
    bad = f", {plural(len(result.damaged), 'damaged tensor')} among them" if result.damaged else ""
    say(f"wrote {args.output}{bad}", file=sys.stderr)
    return EXIT_OK
