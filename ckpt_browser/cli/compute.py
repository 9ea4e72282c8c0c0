"""Where whole-checkpoint work runs: this machine, or the Dask cluster of `--cluster ADDRESS`
(or of the CKPT_BROWSER_CLUSTER environment variable)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from contextlib import contextmanager

from ckpt_browser.cli.output import UsageError

ENVIRONMENT_VARIABLE = "CKPT_BROWSER_CLUSTER"  # the scheduler when --cluster is not given


def add_cluster_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cluster",
        metavar="ADDRESS",
        help="run the reading on the Dask scheduler at ADDRESS (tcp://host:8786); default: "
        f"${ENVIRONMENT_VARIABLE}, else this machine. Needs ckpt-browser[cluster]; workers open "
        "the checkpoints by URL",
    )
    parser.add_argument(
        "--shared-path",
        action="store_true",
        help="with --cluster: the local paths given are seen by every worker too (a shared "
        "file system), so they are not refused",
    )


def cluster_address(args: argparse.Namespace) -> str | None:
    address = args.cluster if args.cluster is not None else os.environ.get(ENVIRONMENT_VARIABLE)
    return address.strip() or None if address else None


@contextmanager
def cluster_runner(args: argparse.Namespace) -> Iterator[object | None]:
    """The Dask runner the options ask for (None: work here as always); what goes wrong with
    the cluster becomes one `error:` line."""
    address = cluster_address(args)
    if address is None:
        yield None
        return
    from ckpt_browser.core.tasks.cluster import ClusterError, DaskRunner

    try:
        runner = DaskRunner(address, shared_paths=args.shared_path)
    except ClusterError as exc:
        raise UsageError(str(exc)) from None
    try:
        yield runner
    except ClusterError as exc:
        raise UsageError(str(exc)) from None
    finally:
        runner.close()
