"""fsspec's chained URLs into archives become locations: the archive, then the member."""

from __future__ import annotations

import pytest

from ckpt_browser.format import CheckpointError
from ckpt_browser.format.sources import locations
from ckpt_browser.format.sources.archives import from_chained_url


@pytest.mark.parametrize(
    "url, location",
    [
        (
            "zip://uncased_L-12_H-768_A-12/bert_model.ckpt::https://host/release.zip",
            "https://host/release.zip/uncased_L-12_H-768_A-12/bert_model.ckpt",
        ),
        ("zip://inner::s3://bucket/run/x.zip", "s3://bucket/run/x.zip/inner"),
        ("zip://inner/m.ckpt::/local/x.zip", "/local/x.zip/inner/m.ckpt"),
        ("zip://inner::file:///local/x.zip", "/local/x.zip/inner"),
        ("zip:///inner/::gs://b/x.ZIP", "gs://b/x.ZIP/inner"),
        ("zip://::https://host/release.zip", "https://host/release.zip"),
        ("zip::https://host/release.zip", "https://host/release.zip"),
        (
            "tar://model.ckpt::https://host/inception.tar.gz",
            "https://host/inception.tar.gz/model.ckpt",
        ),
        ("zip://m::simplecache::s3://b/x.zip", "s3://b/x.zip/m"),
        ("tar://a b/é::blockcache::https://h/x y.tgz", "https://h/x y.tgz/a b/é"),
        ("simplecache::s3://b/run/model.ckpt-5", "s3://b/run/model.ckpt-5"),
    ],
)
def test_a_chained_url_becomes_the_archive_then_the_member(url, location):
    assert from_chained_url(url) == location


def test_normalize_turns_chained_urls_into_locations():
    assert locations.normalize("zip://a/./b::HTTPS://host/r.zip") == "https://host/r.zip/a/b"
    assert locations.normalize("zip://a::/local/x.zip") == "/local/x.zip/a"


@pytest.mark.parametrize(
    "url, words",
    [
        ("zip://a::zip://b::https://host/x.zip", "archives inside archives are not read"),
        ("zip://a::https://host/download?id=3", "must be named like one"),
        ("reference://a::https://user:secret@host/x.zip", "starts with 'reference://'"),
        ("zip://a::https://h/x.zip::s3://b/y.zip", "one member of one archive"),
    ],
)
def test_a_chained_url_that_is_no_archive_member_is_one_sentence_without_secrets(url, words):
    with pytest.raises(CheckpointError) as raised:
        from_chained_url(url)
    assert words in str(raised.value) and "secret" not in str(raised.value)
