"""The S3 API on loopback: moto's server mode in a thread, as s3fs's own tests use it.

`running_s3_server()` starts `ThreadedMotoServer` on 127.0.0.1 on a free port and sets the
environment an s3fs user has: dummy credentials, a region, and the endpoint in
`AWS_ENDPOINT_URL_S3`, which botocore (and so s3fs) reads by itself; so the program reaches the
server with no option of its own. Credentials and config files of the machine are shut out, and
the environment is restored when the server stops. `S3Server.upload` copies local files or
folders (TensorFlow-made checkpoints) into a bucket.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

REGION = "us-east-1"
ACCESS_KEY_ID = "AKIDLOOPBACKTESTS"
# A value no output may show: tests look for it in everything the program prints.
SECRET_ACCESS_KEY = "loopback-secret-7d1f0c9e4b2a"


@dataclass
class S3Server:
    """A running moto server and a boto3 client for it."""

    endpoint: str
    client: object  # botocore.client.S3

    def create_bucket(self, bucket: str) -> str:
        """Make an empty bucket; returns `s3://bucket`."""
        self.client.create_bucket(Bucket=bucket)
        return f"s3://{bucket}"

    def upload(self, local: str | os.PathLike[str], url: str) -> str:
        """Copy a file, or every file under a folder, to `url` (`s3://bucket/key`); returns it."""
        bucket, _, key = url.removeprefix("s3://").partition("/")
        local = Path(local)
        if local.is_file():
            self.client.upload_file(str(local), bucket, key)
            return url
        for path in sorted(local.rglob("*")):
            if path.is_file():
                relative = path.relative_to(local).as_posix()
                self.client.upload_file(str(path), bucket, f"{key}/{relative}" if key else relative)
        return url

    def put(self, url: str, data: bytes) -> None:
        bucket, _, key = url.removeprefix("s3://").partition("/")
        self.client.put_object(Bucket=bucket, Key=key, Body=data)

    def get(self, url: str) -> bytes:
        bucket, _, key = url.removeprefix("s3://").partition("/")
        return self.client.get_object(Bucket=bucket, Key=key)["Body"].read()


def s3_environment(endpoint: str, home: Path) -> dict[str, str | None]:
    """The variables an s3fs user would set for this endpoint; None removes a variable."""
    no_proxy = ",".join(
        part for part in (os.environ.get("NO_PROXY"), "127.0.0.1,localhost") if part
    )
    return {
        "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ENDPOINT_URL_S3": endpoint,
        # nothing of the machine's own AWS set-up may take part
        "AWS_CONFIG_FILE": str(home / "aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_PROFILE": None,
        "AWS_SESSION_TOKEN": None,
        "AWS_SECURITY_TOKEN": None,
        "AWS_ENDPOINT_URL": None,
        "NO_PROXY": no_proxy,
        "no_proxy": no_proxy,
    }


@contextmanager
def running_s3_server(home: Path) -> Iterator[S3Server]:
    """A moto S3 server on a free loopback port, with the environment set for it; stopped and
    the environment restored on leaving. `home` holds the (absent) AWS config files."""
    import boto3
    from moto.server import ThreadedMotoServer

    # werkzeug logs every request to stderr, where the command line's own messages are checked
    request_log = logging.getLogger("werkzeug")
    level = request_log.level
    request_log.setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    try:
        with pytest.MonkeyPatch.context() as patch:
            for name, value in s3_environment(endpoint, home).items():
                if value is None:
                    patch.delenv(name, raising=False)
                else:
                    patch.setenv(name, value)
            yield S3Server(endpoint, boto3.client("s3"))
    finally:
        server.stop()
        request_log.setLevel(level)
