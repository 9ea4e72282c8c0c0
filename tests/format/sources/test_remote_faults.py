"""A failing, lying or stalling server gives a clear sentence or the right bytes, never a hang,
a traceback or wrong values; Cancel acts within half a second even while the server is silent."""

from __future__ import annotations

import threading
import time

import pytest

from ckpt_browser.format.errors import Cancelled, CheckpointError
from ckpt_browser.format.sources import cancellable, http_fetcher, remote
from ckpt_browser.format.sources.remote_source import RemoteSource


def test_a_missing_file_is_not_found(server):
    with pytest.raises(CheckpointError) as caught:
        RemoteSource(server.url("nothing.index"), "index file")
    assert str(caught.value) == (
        f"{server.url('nothing.index')}: cannot open the index file: not found (HTTP 404)"
    )


def test_a_forbidden_file_is_access_denied(server):
    server.fault("/blob.bin", "403")
    with pytest.raises(CheckpointError, match=r"access denied \(HTTP 403\)"):
        RemoteSource(server.url("blob.bin"))
    assert server.requests["/blob.bin"] == 2  # HEAD, then one GET of one byte: never retried


def test_a_range_that_turns_404_is_not_retried(server):
    source = RemoteSource(server.url("blob.bin"), "data file")
    server.fault("/blob.bin", "404")
    server.reset_counts()
    with pytest.raises(CheckpointError, match=r"of the data file: not found \(HTTP 404\)"):
        source.read(0, 1000)
    assert server.requests["/blob.bin"] == 1


def test_one_failing_range_is_retried_and_the_bytes_are_right(server, files):
    source = RemoteSource(server.url("blob.bin"))
    server.fault("/blob.bin", "500", nth=1)
    assert bytes(source.read(5000, 100_000)) == files["blob.bin"][5000:105_000]
    assert server.range_requests["/blob.bin"] == 2


def test_a_server_that_keeps_failing_gives_up_after_two_retries(server):
    source = RemoteSource(server.url("blob.bin"))
    server.fault("/blob.bin", "500")
    with pytest.raises(CheckpointError, match=r"the server failed \(HTTP 500\)"):
        source.read(0, 1000)
    assert server.range_requests["/blob.bin"] == 3


@pytest.mark.parametrize("fault", ["reset", "truncate"])
def test_a_body_cut_short_once_is_fetched_again(server, files, fault):
    source = RemoteSource(server.url("blob.bin"))
    server.fault("/blob.bin", fault, nth=1)
    assert bytes(source.read(0, 1_000_000)) == files["blob.bin"][:1_000_000]
    assert server.range_requests["/blob.bin"] == 2


@pytest.mark.parametrize("fault", ["reset", "truncate"])
def test_a_body_always_cut_short_is_a_clear_error(server, fault):
    source = RemoteSource(server.url("blob.bin"))
    server.fault("/blob.bin", fault)
    with pytest.raises(CheckpointError) as caught:
        source.read(0, 1_000_000)
    message = str(caught.value)
    assert "connection" in message or "sent" in message, message
    assert server.range_requests["/blob.bin"] == 3


def test_a_server_that_ignores_ranges_still_gives_the_right_bytes(server, files):
    server.fault("/blob.bin", "ignore_range")
    source = RemoteSource(server.url("blob.bin"))
    assert bytes(source.read(2_000_000, 50_000)) == files["blob.bin"][2_000_000:2_050_000]
    assert bytes(source.read_many([(7, 3), (2_999_990, 10)])[1]) == files["blob.bin"][-10:]


def test_a_large_file_on_a_server_that_ignores_ranges_is_refused(server, monkeypatch):
    monkeypatch.setattr(http_fetcher, "IGNORED_RANGE_LIMIT", 1_000_000)
    server.fault("/blob.bin", "ignore_range")
    source = RemoteSource(server.url("blob.bin"))
    with pytest.raises(CheckpointError, match="ignores range requests"):
        source.read(10, 100)


def test_a_stalled_server_times_out(server):
    remote.configure(timeout_s=0.3)
    source = RemoteSource(server.url("blob.bin"))
    server.fault("/blob.bin", "stall")
    start = time.perf_counter()
    with pytest.raises(CheckpointError, match=r"timed out after 0.3 s"):
        source.read(0, 1000)
    assert time.perf_counter() - start < 1.5


def test_opening_on_a_stalled_server_times_out(server):
    remote.configure(timeout_s=0.3)
    server.fault("/blob.bin", "stall")
    with pytest.raises(CheckpointError, match=r"cannot open the file: timed out after 0.3 s"):
        RemoteSource(server.url("blob.bin"))


def test_a_closed_port_cannot_connect():
    with pytest.raises(CheckpointError, match="cannot open the file: cannot connect"):
        RemoteSource("http://127.0.0.1:9/model.ckpt.index")


def _cancel_after(seconds: float) -> tuple[threading.Event, list[float]]:
    flag, moment = threading.Event(), []

    def set_flag() -> None:
        time.sleep(seconds)
        moment.append(time.perf_counter())
        flag.set()

    threading.Thread(target=set_flag, daemon=True).start()
    return flag, moment


# Cancel acts within 0.5 s (polling every 50 ms); a loaded test machine gets some slack.
CANCEL_SECONDS = 1.0


def test_cancel_stops_a_read_from_a_stalled_server_within_half_a_second(server):
    source = RemoteSource(server.url("blob.bin"))
    server.fault("/blob.bin", "stall")
    flag, moment = _cancel_after(0.2)
    with cancellable(flag.is_set), pytest.raises(Cancelled):
        source.read(0, 2_000_000)
    assert time.perf_counter() - moment[0] < CANCEL_SECONDS
    # The abandoned requests are dropped, not left to hold the fetching threads.
    server.fault("/blob.bin", None)
    assert len(bytes(source.read(0, 10))) == 10


def test_cancel_stops_opening_on_a_stalled_server(server):
    server.fault("/blob.bin", "stall")
    flag, moment = _cancel_after(0.2)
    with cancellable(flag.is_set), pytest.raises(Cancelled):
        RemoteSource(server.url("blob.bin"))
    assert time.perf_counter() - moment[0] < CANCEL_SECONDS


def test_many_stalled_parts_cancel_at_once_and_free_the_pool(server, files):
    remote.configure(part_bytes=128 * 1024)
    source = RemoteSource(server.url("blob.bin"))
    server.fault("/blob.bin", "stall")
    flag, moment = _cancel_after(0.2)
    with cancellable(flag.is_set), pytest.raises(Cancelled):
        source.read(0, 2_900_000)  # 23 parts, 8 at a time
    assert time.perf_counter() - moment[0] < CANCEL_SECONDS
    server.fault("/blob.bin", None)
    start = time.perf_counter()
    assert bytes(source.read(0, 2_900_000)) == files["blob.bin"][:2_900_000]
    assert time.perf_counter() - start < 2.0  # not waiting for the stalled requests (10 s)


def test_a_redirect_is_followed_once_and_its_target_reused(server, files):
    source = RemoteSource(server.url("redirect/blob.bin"))
    server.reset_counts()
    assert bytes(source.read(10, 100_000)) == files["blob.bin"][10:100_010]
    assert bytes(source.read(2_000_000, 100_000)) == files["blob.bin"][2_000_000:2_100_000]
    assert server.requests["/redirect/blob.bin"] == 0
    assert server.range_requests["/blob.bin"] == 2


def test_a_connection_the_server_closed_while_idle_is_replaced_quietly(server, files):
    source = RemoteSource(server.url("blob.bin"))
    server.fault("/blob.bin", "drop_idle")
    for index in range(4):
        offset = index * 500_000
        assert bytes(source.read(offset, 1000)) == files["blob.bin"][offset : offset + 1000]
    assert server.range_requests["/blob.bin"] == 4
