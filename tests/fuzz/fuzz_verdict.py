"""One outcome class per fuzz case, from what ckpt-browser did and what TensorFlow read.

Classes that are fine: "same as TensorFlow"; "refused, TensorFlow too"; "refused, TensorFlow reads"
(we are stricter); "read, TensorFlow refuses" (TensorFlow refuses the whole prefix or a tensor for
a reason other than its checksum, and we read it); "checksum flagged" (TensorFlow refuses a tensor
for its checksum and our `verify` names it). Everything else is a failure: a traceback, memory, a
hang, a crash, terminal escapes, code injection, a source changed, an output left behind, or a
value, listing or verdict that differs from TensorFlow's while TensorFlow reads the file fine.

Legacy V1 checkpoints (TensorFlow's choice: no `.index` matches the prefix) are held to more:
TensorFlow's V1 reader checks no more than block CRCs and the structure, all of which ours checks
too, so refusing what TensorFlow restores is a failure ("refused V1, TensorFlow reads") unless
`V1_REFUSALS_MEANT` says why the refusal is meant.
"""

from __future__ import annotations

import os
import re

from ckpt_browser.format.names import name_of_key

OK_CLASSES = (
    "same as TensorFlow",
    "checksum flagged",
    "read, TensorFlow refuses",
    "refused, TensorFlow too",
    "refused, TensorFlow reads",
)
SILENTLY_WRONG = "silently wrong"
V1_REFUSED = "refused V1, TensorFlow reads"
# Our refusals of V1 files TensorFlow reads that are meant: (pattern over our message, why).
V1_REFUSALS_MEANT: list[tuple[str, str]] = [
    (
        r"has unknown dtype 1\d\d$",
        "a reference dtype, which no writer stores: TensorFlow lists it and restores nothing, "
        "and the V2 reader refuses it too",
    ),
]
OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"


def _exists(path: str) -> bool:
    return "\0" not in path and os.path.exists(path)


def _same(a: str, b: str) -> bool:
    return "\0" not in a + b and os.path.realpath(a) == os.path.realpath(b)


def _about_the_shard(message: str) -> bool:
    """A verify problem about the shard file itself (missing, a directory), not the tensor: true
    of an empty tensor too, which TensorFlow reads without opening the shard."""
    return "data shard is" in message


def _is_checksum(message: str) -> bool:
    return "checksum" in message.lower() or "crc" in message.lower()


def _base_name(display: str) -> str:
    """The tensor a verify problem is about (`name (slice [..])` is a slice of `name`)."""
    return display.split(" (slice ")[0]


def _by_our_names(tf_tensors: dict | None) -> dict | None:
    """TensorFlow lists a key by its text; we by its name, escaped where the text does not print
    or holds a backslash (`ckpt_browser.format.names`)."""
    if tf_tensors is None:
        return None
    return {name_of_key(key.encode("utf-8", "surrogateescape")): t for key, t in tf_tensors.items()}


def judge(ours: dict, theirs: dict) -> tuple[str, str, str]:
    """(outcome class, signature, detail). The signature groups failures of one cause."""
    failure = ours.get("failure")
    if failure:
        return failure["kind"], failure["signature"], failure["text"]
    if ours.get("source_changed"):
        return "source modified", "source modified", ours["source_changed"]
    if ours.get("peak_rss_mb", 0) > ours.get("rss_cap_mb", 1 << 30):
        return "memory", "memory: peak RSS", f"peak RSS {ours['peak_rss_mb']} MB"
    findings: list[tuple[str, str, str]] = []
    api = ours.get("api", {})
    read = theirs.get("read", {})
    tf_tensors = _by_our_names(read.get("tensors"))
    ours_prefix, tf_prefix = api.get("prefix"), theirs.get("resolved")
    if (
        ours_prefix
        and tf_prefix
        and _exists(tf_prefix + ".index")
        and not _same(ours_prefix, tf_prefix)
    ):
        findings.append(
            (
                SILENTLY_WRONG,
                "opens another checkpoint than TensorFlow",
                f"ours {ours_prefix}, TensorFlow {tf_prefix}",
            )
        )
    v1 = read.get("format") == "V1"
    if (
        v1
        and ours_prefix
        and tf_prefix
        and tf_tensors is not None
        and not _same(ours_prefix, tf_prefix)
    ):
        findings.append(
            (
                SILENTLY_WRONG,
                "opens another V1 checkpoint than TensorFlow",
                f"ours {ours_prefix}, TensorFlow {tf_prefix}",
            )
        )
    if "api" not in ours:
        pass  # a lone graph: no checkpoint to compare
    elif "error" in api:
        kind = "refused, TensorFlow reads" if tf_tensors else "refused, TensorFlow too"
        if v1 and tf_tensors is not None:  # TensorFlow reads it, if only to list nothing
            findings.append(_v1_refusal("refused, TensorFlow reads", api["error"]))
        else:
            findings.append((kind, kind, api["error"]))
    elif tf_tensors is None:
        findings.append(
            ("read, TensorFlow refuses", "TensorFlow refuses the prefix", read.get("error", ""))
        )
    else:
        findings += _compare_tensors(api, tf_tensors, v1)
    findings += _compare_cli(ours, tf_tensors or {})
    findings += _compare_remap(ours, tf_tensors or {}, theirs.get("dst"))
    findings += _compare_graph(ours.get("graph"), theirs.get("graph"))
    if not findings:
        return "same as TensorFlow", "same", ""
    order = {name: i for i, name in enumerate(reversed(OK_CLASSES))}
    return min(findings, key=lambda f: order.get(f[0], -1))


def _v1_refusal(kind: str, message: str) -> tuple[str, str, str]:
    """A refusal of a V1 file or tensor that TensorFlow reads: a failure, unless documented."""
    for pattern, why in V1_REFUSALS_MEANT:
        if re.search(pattern, message):
            return kind, f"{kind} ({why})", message
    return V1_REFUSED, f"{V1_REFUSED}: {_shape_of(message)}", message


def _shape_of(message: str) -> str:
    """A refusal's sentence without its names and numbers: what groups refusals of one cause."""
    message = re.sub(r"^\S*/\S*: ", "", message)  # the file it names
    message = re.sub(r"'[^']*'|\"[^\"]*\"", "NAME", message)
    return re.sub(r"\d[\d,]*", "N", message)[:120]


def _compare_tensors(api: dict, tf_tensors: dict, v1: bool = False) -> list[tuple[str, str, str]]:
    findings = []
    ours = api.get("tensors", {})
    verify = {_base_name(name) for name in api.get("verify", {})}
    if set(ours) != set(tf_tensors):
        missing = sorted(set(tf_tensors) - set(ours))[:3]
        extra = sorted(set(ours) - set(tf_tensors))[:3]
        findings.append(
            (
                SILENTLY_WRONG,
                "listing differs from TensorFlow's",
                f"TensorFlow lists {missing} that we do not; we list {extra}",
            )
        )
    for name in sorted(set(ours) & set(tf_tensors)):
        mine, theirs = ours[name], tf_tensors[name]
        if "error" in theirs:
            if "error" in mine:
                findings.append(
                    ("refused, TensorFlow too", "tensor refused by both", mine["error"])
                )
            elif _is_checksum(theirs["error"]):
                if name in verify or "verify_error" in api:
                    findings.append(("checksum flagged", "checksum flagged", name))
                else:
                    findings.append(
                        (
                            SILENTLY_WRONG,
                            "verify misses a checksum TensorFlow checks",
                            f"{name!r}: {theirs['error']}",
                        )
                    )
            else:
                findings.append(
                    (
                        "read, TensorFlow refuses",
                        "tensor TensorFlow refuses",
                        f"{name!r}: {theirs['error']}",
                    )
                )
            continue
        if (mine["dtype"], mine["shape"]) != (theirs["dtype"], theirs["shape"]):
            findings.append(
                (
                    SILENTLY_WRONG,
                    "dtype or shape differs from TensorFlow's",
                    f"{name!r}: ours {mine['dtype']} {mine['shape']}, TensorFlow "
                    f"{theirs['dtype']} {theirs['shape']}",
                )
            )
        elif "error" in mine and v1:
            findings.append(_v1_refusal("refused, TensorFlow reads", mine["error"]))
        elif "error" in mine:
            findings.append(
                (
                    "refused, TensorFlow reads",
                    "tensor refused, TensorFlow reads",
                    f"{name!r}: {mine['error']}",
                )
            )
        elif mine["digest"] != theirs["digest"]:
            findings.append((SILENTLY_WRONG, "value differs from TensorFlow's", repr(name)))
        # A tensor we refuse to read, verify may well name too: that is the same refusal.
        read_it = "error" not in mine
        if read_it and name in verify and not _about_the_shard(api["verify"].get(name, "")):
            findings.append(
                (
                    SILENTLY_WRONG,
                    "verify reports damage TensorFlow does not see",
                    f"{name!r}: {api['verify'].get(name, '')}",
                )
            )
    return findings


def _compare_cli(ours: dict, tf_tensors: dict) -> list[tuple[str, str, str]]:
    findings = []
    for run in ours.get("cli", []):
        if run["args"][0] != "show" or run["code"] != 0 or len(run["args"]) < 2:
            continue
        theirs = tf_tensors.get(run["args"][1], {})
        said = (run["stdout"] + run["stderr"]).lower()
        if _is_checksum(theirs.get("error", "")) and "checksum" not in said:
            findings.append(
                (
                    SILENTLY_WRONG,
                    "show prints a tensor whose checksum fails, silently",
                    f"show {run['args'][1]!r}: TensorFlow: {theirs['error']}",
                )
            )
    return findings


def _compare_remap(ours: dict, tf_tensors: dict, dst: dict | None) -> list[tuple[str, str, str]]:
    remap = ours.get("remap")
    if not remap or remap.get("code") != 0:
        return []
    findings = []
    damaged = [n for n, t in tf_tensors.items() if _is_checksum(t.get("error", ""))]
    if remap.get("args"):
        # Rules and a target may leave a damaged tensor out (or take a template's value for its
        # name): it is laundered only if its bytes, as we read them, are in the output.
        source = ours.get("api", {}).get("tensors", {})
        written = set(remap.get("tensors", {}).values())
        damaged = [n for n in damaged if source.get(n, {}).get("digest") in written]
    if damaged and "checksum" not in remap.get("stdout", "").lower():
        findings.append(
            (
                SILENTLY_WRONG,
                "remap launders a failed checksum",
                f"{damaged[:3]} fail their checksum in TensorFlow; remap exits 0",
            )
        )
    if not remap.get("args"):  # plain remap: same names, same values (a new object graph)
        for name, value in remap.get("tensors", {}).items():
            if name == OBJECT_GRAPH_KEY:
                continue
            theirs = tf_tensors.get(name, {})
            if "digest" in theirs and theirs["digest"] != value:
                findings.append(
                    (SILENTLY_WRONG, "remap writes other values than TensorFlow reads", repr(name))
                )
    if dst is not None and tf_tensors:  # a copy of keys TensorFlow cannot list, it cannot list
        broken = {n: t["error"] for n, t in dst.get("tensors", {}).items() if "error" in t}
        if "error" in dst or broken:
            findings.append(
                (
                    SILENTLY_WRONG,
                    "remap output TensorFlow cannot read",
                    str(dst.get("error") or broken)[:300],
                )
            )
    return findings


def _compare_graph(ours: dict | None, theirs: dict | None) -> list[tuple[str, str, str]]:
    if not ours or not theirs:
        return []
    if "error" in ours:
        kind = "refused, TensorFlow too" if "error" in theirs else "refused, TensorFlow reads"
        return [(kind, "graph " + kind, ours["error"])]
    if "error" in theirs:
        return [("read, TensorFlow refuses", "graph TensorFlow cannot parse", theirs["error"])]
    if ours["nodes"] != theirs["nodes"]:
        return [(SILENTLY_WRONG, "graph nodes differ from TensorFlow's parse", "")]
    return []
