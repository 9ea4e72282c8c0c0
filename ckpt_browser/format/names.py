"""Tensor names: the text that stands for a checkpoint key, and the key a name stands for.

A key is bytes, and TensorFlow lets them be any bytes. A key that is printable UTF-8 text without
a backslash (every key TensorFlow and Keras make) is named by that text. Any other key is named
by its text with escapes in the manner of Python's `repr`:

- `\\\\` for a backslash; `\\n`, `\\r`, `\\t`, and `\\xNN` for the other ASCII control characters;
- `\\uNNNN` (or `\\UNNNNNNNN`) for any other character that does not print (a bidi override,
  a zero-width space, a line separator);
- `\\xNN` for each byte that is not part of valid UTF-8 (always 80 to FF).

Only escaped names hold a backslash, so a name never stands for two keys: the key `w\\xff` (bytes
77 FF) is named `w\\xff`, and the key spelled `w\\xff` in text is named `w\\\\xff`. Every key has
exactly one name and `key_of_name` refuses text that is no key's name. Names are what the whole
program shows, lists, looks up and writes: `CheckpointWriter` turns each name back into its key,
so a checkpoint read and written again keeps every key byte for byte.
"""

from __future__ import annotations

import re

_SHORT_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_UNESCAPED = {b"\\": b"\\", b"n": b"\n", b"r": b"\r", b"t": b"\t"}
# The escapes `_escaped` writes; `key_of_name` refuses a name with any other.
_ESCAPE = re.compile(rb"\\(?:([\\nrt])|x([0-9a-fA-F]{2})|u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8}))")


def name_of_key(key: bytes) -> str:
    """The name of a key: its text, escaped if it is not printable UTF-8 without a backslash."""
    try:
        text = key.decode("utf-8")
    except UnicodeDecodeError:
        return _escaped(key.decode("utf-8", "surrogateescape"))
    if text.isprintable() and "\\" not in text:
        return text
    return _escaped(text)


def names_of_keys(keys: list[bytes]) -> list[str]:
    """`name_of_key` of each key, checked all at once (20 ms less for 100,000 keys): joined by
    line breaks, which no plain name holds, the keys decode and test as one string."""
    try:
        text = b"\n".join(keys).decode("utf-8")
    except UnicodeDecodeError:
        return [name_of_key(key) for key in keys]
    names = text.split("\n")
    if len(names) == len(keys) and "\\" not in text and all(map(str.isprintable, names)):
        return names
    return [name_of_key(key) for key in keys]


def key_of_name(name: str) -> bytes:
    """The key a name stands for: `name_of_key` undone.

    Raises ValueError for text that is no key's name, such as one holding a newline, a backslash
    that escapes nothing, or `\\x41` where `A` is meant: a key has exactly one name.
    """
    if name.isprintable() and "\\" not in name:  # isprintable is False for lone surrogates
        return name.encode("utf-8")
    try:
        key = _ESCAPE.sub(_unescape, name.encode("utf-8"))
    except UnicodeEncodeError:
        key = None
    shown = None if key is None else name_of_key(key)
    if shown != name:
        why = "it spells no bytes" if key is None else f"its key is named {shown!r}"
        raise ValueError(f"{name!r} is not a tensor name as a checkpoint shows it ({why})")
    return key


def key_text(name: str) -> str | None:
    """The key a name stands for as text, as TensorFlow's Python API and protobuf string fields
    (the TF2 object graph's keys) take it; None if the key is not UTF-8 or `name` is no name."""
    try:
        return key_of_name(name).decode("utf-8")
    except ValueError:  # UnicodeDecodeError is one
        return None


def _escaped(text: str) -> str:
    """The escaped name of a key's text (its undecodable bytes as surrogates 0xDC80..0xDCFF)."""
    out = []
    for char in text:
        code = ord(char)
        if char.isprintable() and char != "\\":
            out.append(char)
        elif char in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[char])
        elif code < 0x80:
            out.append(f"\\x{code:02x}")
        elif 0xDC80 <= code <= 0xDCFF:  # a byte that is not UTF-8, kept by "surrogateescape"
            out.append(f"\\x{code - 0xDC00:02x}")
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    return "".join(out)


def _unescape(match: re.Match[bytes]) -> bytes:
    short, byte, u16, u32 = match.groups()
    if short is not None:
        return _UNESCAPED[short]
    if byte is not None:
        return bytes([int(byte, 16)])
    code = int(u16 or u32, 16)
    if code > 0x10FFFF:
        raise UnicodeEncodeError("utf-8", "", 0, 1, "not a code point")
    return chr(code).encode("utf-8")  # a surrogate raises UnicodeEncodeError
