"""A URL's secrets (passwords, signatures, tokens) never reach a message, a name or an error."""

from __future__ import annotations

import pytest

from ckpt_browser.format.errors import CheckpointError
from ckpt_browser.format.sources import remote
from ckpt_browser.format.sources.remote_source import RemoteSource
from ckpt_browser.format.sources.urls import redact, scrub

SIGNATURE = "c2VjcmV0c2lnbmF0dXJlMTIzNDU2Nzg5MA"
CREDENTIAL = "AKIAIOSFODNN7EXAMPLE%2F20250101%2Fus-east-1%2Fs3%2Faws4_request"
TOKEN = "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQ"
PRESIGNED_QUERY = (
    "X-Amz-Algorithm=AWS4-HMAC-SHA256"
    f"&X-Amz-Credential={CREDENTIAL}"
    f"&X-Amz-Security-Token={TOKEN}"
    f"&X-Amz-Signature={SIGNATURE}"
)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://host/run/m.index", "https://host/run/m.index"),
        ("https://user:pw123@host/m.index", "https://host/m.index"),
        (
            f"https://b.s3.amazonaws.com/m.index?{PRESIGNED_QUERY}",
            "https://b.s3.amazonaws.com/m.index?<hidden>",
        ),
        (
            "https://acct.blob.core.windows.net/c/m?sv=2020&sig=abcdef",
            "https://acct.blob.core.windows.net/c/m?<hidden>",
        ),
        ("https://h/m?Expires=1&Signature=xyz&Key-Pair-Id=K", "https://h/m?<hidden>"),
        ("https://h/m?access_token=abc&download=1", "https://h/m?<hidden>"),
        ("https://h/m?download=1", "https://h/m?download=1"),
        ("gs://bucket/m.index?generation=17", "gs://bucket/m.index?generation=17"),
        ("s3://KEY:SECRET@bucket/m.index", "s3://bucket/m.index"),
        ("https://h/m#token=abc", "https://h/m"),
        ("zip://a/b.index::https://u:p@h/r.zip?sig=1", "zip://a/b.index::https://h/r.zip?<hidden>"),
        ("/local/path?not=a_url", "/local/path?not=a_url"),
    ],
)
def test_redact(url, shown):
    assert redact(url) == shown


def test_scrub_hides_each_secret_in_every_spelling():
    url = f"https://me:hunter22@h/m.index?{PRESIGNED_QUERY}"
    message = (
        f"400 Bad Request, url='{url}', "
        f"signature {SIGNATURE}, "
        "decoded credential AKIAIOSFODNN7EXAMPLE/20250101/us-east-1/s3/aws4_request, "
        f"password hunter22"
    )
    cleaned = scrub(message, url)
    for secret in (SIGNATURE, "AKIAIOSFODNN7EXAMPLE", TOKEN, "hunter22"):
        assert secret not in cleaned


def _secrets_absent(text: str) -> None:
    for secret in (SIGNATURE, "AKIAIOSFODNN7EXAMPLE", TOKEN, "hunter22"):
        assert secret not in text, text


@pytest.mark.parametrize("fault", [None, "404", "403", "500", "reset", "stall"])
def test_no_secret_of_a_presigned_url_reaches_any_error(server, fault):
    remote.configure(timeout_s=0.3, retries=0)
    base = server.url("blob.bin").replace("http://", "http://me:hunter22@")
    url = f"{base}?{PRESIGNED_QUERY}"
    texts = []
    try:
        source = RemoteSource(url, "data file")
        texts.append(source.name)
        texts.append(repr(source.identity))
        server.fault("/blob.bin", fault)
        source.read(0, 100_000)
    except CheckpointError as error:
        texts += [str(error), repr(error), str(error.path)]
    for text in texts:
        _secrets_absent(text)
    if fault is None:
        assert texts[0] == server.url("blob.bin") + "?<hidden>"


def test_no_secret_reaches_the_error_of_an_unreachable_host():
    url = f"http://me:hunter22@127.0.0.1:9/m.index?{PRESIGNED_QUERY}"
    with pytest.raises(CheckpointError) as caught:
        RemoteSource(url)
    _secrets_absent(str(caught.value))
    assert "cannot connect" in str(caught.value)


def test_the_tree_of_a_presigned_url_answers_and_keeps_its_secret(server):
    url = f"{server.url('blob.bin')}?{PRESIGNED_QUERY}"
    tree = remote.remote_tree_for(url)
    assert tree.exists(url)
    assert tree.isfile(url)
