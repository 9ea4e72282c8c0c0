"""How remote files are read: cache sizes, timeouts, parallel parts. One module-level value that
the window and the command line set (`configure`) and the remote sources read (`settings`)."""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from ckpt_browser.format.sources.cache_dir import CACHE_DIR_VARIABLE  # noqa: F401 (tests set it)

TIMEOUT_VARIABLE = "CKPT_BROWSER_REMOTE_TIMEOUT"  # seconds a server may stay silent
MB = 1024 * 1024


@dataclass(frozen=True)
class RemoteSettings:
    """What a user can set about reading from servers and buckets."""

    memory_cache_bytes: int = 256 * MB  # fetched ranges kept in memory, for all files together
    disk_cache: bool = False  # keep fetched ranges in the user cache directory too
    disk_cache_bytes: int = 10 * 1024 * MB
    connect_timeout_s: float = 10.0
    timeout_s: float = 30.0  # the longest a server may stay silent while sending
    # Range requests in flight at once, over all files. With 20 ms a request and a fast link,
    # 16 parts of 8 MB keep ~2.4 GB/s flowing on loopback; 8 reach ~1.8 GB/s.
    parallel_parts: int = 16
    part_bytes: int = 8 * MB  # a large read is split into parts of this size
    # The most fetched ahead of a pass that reads one range after another (the window starts
    # at two reads and doubles while the pass goes on).
    read_ahead_bytes: int = 128 * MB
    retries: int = 2  # extra attempts after a 5xx, a reset connection or a cut-short body
    # fsspec options per protocol ({"s3": {"endpoint_url": ...}}), on top of fsspec's own config
    storage_options: Mapping[str, Mapping[str, object]] = field(default_factory=dict)


def _from_environment() -> RemoteSettings:
    defaults = RemoteSettings()
    value = os.environ.get(TIMEOUT_VARIABLE, "").strip()
    try:
        seconds = float(value) if value else None
    except ValueError:
        seconds = None
    if seconds is None or seconds <= 0:
        return defaults
    return dataclasses.replace(
        defaults, timeout_s=seconds, connect_timeout_s=min(defaults.connect_timeout_s, seconds)
    )


_lock = threading.Lock()
_current = _from_environment()
_listeners: list[Callable[[RemoteSettings, RemoteSettings], None]] = []


def settings() -> RemoteSettings:
    return _current


def configure(**changes: object) -> RemoteSettings:
    """Change some settings (`configure(disk_cache=True, timeout_s=5)`); returns the new ones.
    Caches shrink, and new filesystem objects take the timeouts, at once."""
    global _current
    with _lock:
        previous = _current
        _current = dataclasses.replace(previous, **changes)  # type: ignore[arg-type]
        current = _current
        listeners = list(_listeners)
    for listener in listeners:
        listener(previous, current)
    return current


def reset() -> RemoteSettings:
    """Back to the defaults (and the environment's timeout)."""
    return configure(**dataclasses.asdict(_from_environment()))


def on_change(listener: Callable[[RemoteSettings, RemoteSettings], None]) -> None:
    """Call `listener(previous, current)` after each change (caches resize themselves)."""
    with _lock:
        _listeners.append(listener)
