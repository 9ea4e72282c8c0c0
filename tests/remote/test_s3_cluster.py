"""Whole-checkpoint work on a real Dask cluster (a LocalCluster of two worker processes) reading
checkpoints from the S3 API server on loopback: `verify` and `diff` give what the local run
gives, byte for byte, damage is reported with the same tensor and offset, and what can go wrong
with the cluster is one clear line.

The workers are separate processes started after the server: they inherit the endpoint and keys
from the environment, as workers in the bucket's region have their own credentials.
"""

from __future__ import annotations

import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from cluster_checkpoints import BIG_ELEMENTS, SMALL_TENSORS, write_pair, write_run
from damaged_files import copy_checkpoint, flip_stored_byte
from s3_server import SECRET_ACCESS_KEY, S3Server

from ckpt_browser.cli import main
from ckpt_browser.core.compare.checkpoints import CompareOptions, compare_checkpoints
from ckpt_browser.core.compare.report import format_json
from ckpt_browser.core.compare.tasks import compare_with
from ckpt_browser.core.tasks.cluster import ClusterError, DaskRunner
from ckpt_browser.core.tasks.runner import LocalRunner
from ckpt_browser.core.tasks.verify import verify_tasks, verify_with
from ckpt_browser.format import ChecksumError, open_checkpoint
from ckpt_browser.format.errors import Cancelled

distributed = pytest.importorskip("distributed")

BUCKET = "cluster-checkpoints"
SMALL_TASKS = 1 << 20  # 1 MB tasks: the pair becomes dozens of tasks, its large tensors several


def local_cluster(**options) -> distributed.LocalCluster:
    return distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",
        **options,
    )


@pytest.fixture(scope="module")
def cluster(s3_server: S3Server) -> Iterator[distributed.LocalCluster]:
    with local_cluster() as cluster:
        yield cluster


@pytest.fixture(scope="module")
def pair(s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("pair")
    local_a, _ = write_pair(folder)
    damaged_folder = folder / "damaged"
    damaged = copy_checkpoint(local_a, damaged_folder)
    # one byte late in the large tensor (its second byte range at 1 MB tasks), one in a small one
    big_offset = flip_stored_byte(damaged, "big", at=BIG_ELEMENTS * 4 - 3)
    flip_stored_byte(damaged, "layer_7/w")
    root = s3_server.create_bucket(BUCKET)
    url = s3_server.upload(folder, f"{root}/pair")
    return {
        "local_a": local_a,
        "a": f"{url}/a/model.ckpt",
        "b": f"{url}/b/model.ckpt",
        "damaged": f"{url}/damaged/model.ckpt",
        "big_offset": str(big_offset),
    }


@pytest.fixture
def runner(cluster) -> Iterator[DaskRunner]:
    runner = DaskRunner(cluster.scheduler_address)
    yield runner
    runner.close()


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    assert SECRET_ACCESS_KEY not in out + err
    return code, out, err


# -- diff -----------------------------------------------------------------------------------------


def test_diff_json_on_the_cluster_is_the_local_runs_byte_for_byte(capsys, pair, cluster):
    expected = run(capsys, "diff", pair["a"], pair["b"], "--json")
    assert expected[0] == 1, expected[2]
    on_cluster = ("--cluster", cluster.scheduler_address)
    got = run(capsys, "diff", pair["a"], pair["b"], "--json", *on_cluster)
    assert got == expected
    table = run(capsys, "diff", pair["a"], pair["b"], *on_cluster)
    assert table == run(capsys, "diff", pair["a"], pair["b"])


def test_the_environment_variable_names_the_cluster(capsys, pair, cluster, monkeypatch):
    expected = run(capsys, "diff", pair["a"], pair["a"], "--json")
    monkeypatch.setenv("CKPT_BROWSER_CLUSTER", cluster.scheduler_address)
    assert run(capsys, "diff", pair["a"], pair["a"], "--json") == expected
    assert expected[0] == 0


def test_small_tasks_merge_into_the_same_comparison(pair, runner):
    """Every chunk of the large tensors and every small tensor in tasks of their own or batched,
    on either runner: every distance (NaN, Inf, position of the maximum) as the local pass."""
    options = CompareOptions(atol=1e-9)
    with open_checkpoint(pair["a"]) as a, open_checkpoint(pair["b"]) as b:
        expected = compare_checkpoints(a, b, options)
        local = LocalRunner([a, b])
        for each in (runner, local):
            got = compare_with(each, a, b, options, task_bytes=SMALL_TASKS)
            assert repr(got.tensors) == repr(expected.tensors)
            assert format_json(got) == format_json(expected)


def test_a_damaged_tensor_stops_diff_with_the_same_sentence(capsys, pair, cluster):
    expected = run(capsys, "diff", pair["damaged"], pair["b"])
    assert expected[0] == 2 and "checksum" in expected[2]
    got = run(capsys, "diff", pair["damaged"], pair["b"], "--cluster", cluster.scheduler_address)
    assert got == expected
    with open_checkpoint(pair["damaged"]) as a, open_checkpoint(pair["b"]) as b:
        runner = DaskRunner(cluster.scheduler_address)
        try:
            with pytest.raises(ChecksumError, match=pair["big_offset"]):
                options = CompareOptions(allow_bad_checksums=False)
                compare_with(runner, a, b, options, task_bytes=SMALL_TASKS)
        finally:
            runner.close()


# -- show -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["big", "wide", "names", "split", "half", "scalar", "empty"])
def test_show_on_the_cluster_prints_what_the_local_run_prints(capsys, pair, cluster, name):
    on_cluster = ("--cluster", cluster.scheduler_address)
    for url in (pair["a"], pair["damaged"]):
        for options in ((), ("--json",)):
            expected = run(capsys, "show", url, name, *options)
            assert expected[0] == 0, expected[2]
            assert run(capsys, "show", url, name, *options, *on_cluster) == expected
    assert "these values are damaged" in run(capsys, "show", pair["damaged"], "big")[2]


# -- verify ---------------------------------------------------------------------------------------


def test_verify_on_the_cluster_says_what_the_local_run_says(capsys, pair, cluster):
    for url in (pair["a"], pair["damaged"]):
        expected = run(capsys, "verify", url)
        got = run(capsys, "verify", url, "--cluster", cluster.scheduler_address)
        assert got == expected
    code, out, _ = got
    assert code == 1
    damaged = [line for line in out.splitlines() if line.startswith("damaged:")]
    assert [line.split(":")[1].strip() for line in damaged] == ["big", "layer_7/w"]
    assert f"at offset {pair['big_offset']} of model.ckpt.data-00000-of-00001" in damaged[0]


def test_a_large_tensor_is_verified_in_ranges_that_merge(pair, runner):
    with open_checkpoint(pair["damaged"]) as ckpt:
        expected = ckpt.verify()
        _, _, tasks = verify_tasks(ckpt, SMALL_TASKS)
        ranges = [c for task in tasks for c in task.checks if c.piece.name == "big"]
        assert len(ranges) == -(-BIG_ELEMENTS * 4 // SMALL_TASKS)
        assert verify_with(runner, ckpt, task_bytes=SMALL_TASKS) == expected
        assert verify_with(LocalRunner([ckpt]), ckpt, task_bytes=SMALL_TASKS) == expected
    assert [problem.name for problem in expected] == ["big", "layer_7/w"]


def test_small_tensors_are_batched_into_few_tasks(pair):
    with open_checkpoint(pair["a"]) as ckpt:
        _, pieces, tasks = verify_tasks(ckpt)
    assert len(pieces) > SMALL_TENSORS
    assert len(tasks) <= 3


# -- history ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def run_url(s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = write_run(tmp_path_factory.mktemp("run"))
    return s3_server.upload(folder, f"{s3_server.create_bucket('cluster-run')}/run")


@pytest.mark.parametrize(
    "what",
    [(), ("net/dense/kernel",), ("net/out",), ("--fail-on-nan",), ("net/out", "--fail-on-nan")],
    ids=["overview", "variable", "scope", "overview nan check", "scope nan check"],
)
def test_history_on_the_cluster_is_the_local_runs(capsys, run_url, cluster, what):
    expected = run(capsys, "history", run_url, *what, "--json", "--no-cache")
    assert expected[0] in (0, 1), expected[2]
    on_cluster = ("--cluster", cluster.scheduler_address)
    got = run(capsys, "history", run_url, *what, "--json", "--no-cache", *on_cluster)
    assert got == expected
    if "--fail-on-nan" in what:
        assert got[0] == 1 and " holds 1 NaN and 0 Inf" in got[2]


# -- what can go wrong with the cluster -----------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_scheduler_nobody_runs_is_one_error_line(capsys, pair):
    address = f"tcp://127.0.0.1:{free_port()}"
    code, out, err = run(capsys, "verify", pair["a"], "--cluster", address)
    assert code == 2 and out == ""
    assert err.startswith(f"error: cannot reach the Dask scheduler at {address}: ")
    assert len(err.splitlines()) == 1


def test_without_dask_the_extra_is_named(monkeypatch, pair):
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ClusterError, match=r"pip install 'ckpt-browser\[cluster\]'"):
        DaskRunner("tcp://127.0.0.1:1")


def machine_address() -> str | None:
    for addresses in psutil.net_if_addrs().values():
        for address in addresses:
            if address.family == socket.AF_INET and not address.address.startswith("127."):
                return address.address
    return None


def test_a_local_path_is_refused_for_workers_elsewhere_unless_shared(capsys, pair):
    """Workers listening on the machine's network address count as elsewhere: a path of this
    machine is refused with the reason, and accepted with --shared-path."""
    host = machine_address()
    if host is None:
        pytest.skip("no network address besides loopback")
    local = pair["local_a"]
    with local_cluster(host=host) as cluster:
        address = cluster.scheduler_address
        code, out, err = run(capsys, "verify", local, "--cluster", address)
        assert (code, out) == (2, "")
        assert err.startswith(f"error: {local} is a path on this machine, but the workers")
        assert "--shared-path" in err and len(err.splitlines()) == 1
        shared = run(capsys, "verify", local, "--cluster", address, "--shared-path")
        assert shared == run(capsys, "verify", local)


def test_a_local_path_is_read_by_workers_on_this_machine(capsys, pair, cluster):
    local = pair["local_a"]
    assert Path(local + ".index").exists()
    got = run(capsys, "diff", local, local, "--json", "--cluster", cluster.scheduler_address)
    assert got == run(capsys, "diff", local, local, "--json")


# -- workers that die, cancel, a scheduler that goes away ----------------------------------------


def released(cluster: distributed.LocalCluster) -> bool:
    """Whether the scheduler holds no task any more (polled: the release is asynchronous)."""
    for _ in range(300):
        if not cluster.scheduler.tasks:
            return True
        threading.Event().wait(0.1)
    return False


def test_a_worker_killed_in_the_middle_changes_nothing(pair):
    """Once tasks have finished, one worker process is killed: Dask reruns what it held or was
    running on the other (and on its restarted successor), and every number is the local run's."""
    with open_checkpoint(pair["a"]) as a, open_checkpoint(pair["b"]) as b:
        expected = compare_checkpoints(a, b)
        with local_cluster() as cluster:
            victim = next(iter(cluster.workers.values())).process.pid
            runner = DaskRunner(cluster.scheduler_address)
            killed = []

            def kill_once(fraction: float) -> None:
                if not killed and fraction < 1.0:
                    psutil.Process(victim).kill()
                    killed.append(fraction)

            try:
                got = compare_with(runner, a, b, progress=kill_once, task_bytes=SMALL_TASKS)
            finally:
                runner.close()
            assert killed, "the job finished before a worker could be killed"
            assert not psutil.pid_exists(victim) or psutil.Process(victim).status() == "zombie"
    assert repr(got.tensors) == repr(expected.tensors)


def test_cancel_and_ctrl_c_release_every_task_of_the_job(pair, cluster):
    with open_checkpoint(pair["a"]) as a, open_checkpoint(pair["b"]) as b:
        runner = DaskRunner(cluster.scheduler_address)
        try:
            started = []
            with pytest.raises(Cancelled):
                compare_with(
                    runner,
                    a,
                    b,
                    progress=started.append,
                    cancel=lambda: bool(started),
                    task_bytes=SMALL_TASKS,
                )
            assert released(cluster)

            def interrupt(fraction: float) -> None:
                raise KeyboardInterrupt

            with pytest.raises(KeyboardInterrupt):
                compare_with(runner, a, b, progress=interrupt, task_bytes=SMALL_TASKS)
            assert released(cluster)
            # and the cluster still works for the next job
            assert verify_with(runner, a) == []
        finally:
            runner.close()


def test_a_scheduler_that_goes_away_is_an_error_not_a_hang(pair):
    with open_checkpoint(pair["a"]) as a, open_checkpoint(pair["b"]) as b:
        cluster = local_cluster()
        runner = DaskRunner(cluster.scheduler_address, connect_timeout=3)
        try:

            def stop_scheduler(fraction: float) -> None:
                if cluster.status.name != "closed":
                    cluster.close()

            with pytest.raises(ClusterError, match="Dask scheduler at"):
                compare_with(runner, a, b, progress=stop_scheduler, task_bytes=SMALL_TASKS)
        finally:
            runner.close()
            cluster.close()


def test_a_v1_checkpoint_is_verified_here_with_a_note(capsys, cluster, v1_ckpt):
    expected = run(capsys, "verify", v1_ckpt.path)
    code, out, err = run(capsys, "verify", v1_ckpt.path, "--cluster", cluster.scheduler_address)
    assert (code, out) == expected[:2]
    assert err == expected[2] + "note: a V1 checkpoint is verified here, not on the cluster\n"
