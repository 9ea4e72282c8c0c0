"""What a user is told when the bucket cannot be read: keys the store refuses, an endpoint nothing
listens on. One line `error: URL: reason` with the true reason, soon, no traceback, no secret."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from s3_server import SECRET_ACCESS_KEY, S3Server

from ckpt_browser.cli import main

BUCKET = "refusing-bucket"


@pytest.fixture(scope="module")
def run_url(s3_server: S3Server, tf1_training_dir) -> str:
    return s3_server.upload(tf1_training_dir.directory, f"{s3_server.create_bucket(BUCKET)}/run")


@contextmanager
def keys_refused(s3_server: S3Server) -> Iterator[None]:
    """moto checks signatures from now on, and knows none of our keys: every request is
    refused with 403 InvalidAccessKeyId, as with keys that were revoked."""

    def no_auth_actions(count: str) -> None:
        request = urllib.request.Request(
            f"{s3_server.endpoint}/moto-api/reset-auth",
            data=count.encode(),
            method="POST",
            headers={"Content-Type": "text/plain"},
        )
        urllib.request.urlopen(request, timeout=10).read()

    no_auth_actions("0")
    try:
        yield
    finally:
        no_auth_actions("inf")


@pytest.mark.xfail(
    strict=True,
    reason="remote discovery takes a refused request for a missing file: 'no such file'",
)
@pytest.mark.parametrize("form", ["directory", "prefix", ".index"])
def test_refused_keys_are_reported_as_refused(capsys, s3_server, run_url, form):
    url = {
        "directory": run_url,
        "prefix": f"{run_url}/model.ckpt-30",
        ".index": f"{run_url}/model.ckpt-30.index",
    }[form]
    with keys_refused(s3_server):
        code = main(["ls", url])
    out, err = capsys.readouterr()
    assert SECRET_ACCESS_KEY not in out + err
    assert code == 2 and out == ""
    assert err.startswith(f"error: {url}") and err.count("\n") == 1, err
    assert "access denied" in err, err


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_endpoint_nothing_listens_on_is_reported_soon(run_url):
    url = f"{run_url}/model.ckpt-30"
    environment = {**os.environ, "AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{closed_port()}"}
    started = time.monotonic()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "ckpt_browser.cli", "ls", url],
            capture_output=True,
            text=True,
            env=environment,
            timeout=10,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"still trying after {time.monotonic() - started:.0f} s")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith(f"error: {url}: cannot connect"), done.stderr
    assert "Traceback" not in done.stderr and SECRET_ACCESS_KEY not in done.stderr
