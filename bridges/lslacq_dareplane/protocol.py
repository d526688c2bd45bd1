r"""The dareplane module wire protocol: framing, parsing and reply formatting.

Pure functions and one small incremental splitter, no sockets. The server
(:mod:`lslacq_dareplane.server`) feeds received bytes through a
:class:`CommandSplitter` and turns each complete command into a
:class:`Command` with :func:`parse_command`.

Wire format (dareplane-utils 0.0.24, plus the tolerances lslacq adds):

* a command is ``PCOMM`` or ``PCOMM|<JSON object>``, terminated by ``;``
  (the server's ``delimiter``); ``\n`` and ``\r\n`` also terminate a command
  (telnet, older modules); several commands may share a packet and one
  command may be split over several packets;
* the legacy form ``PCOMM|pos1|pos2|{json}`` passes ``pos1, pos2`` as
  positional string arguments;
* a Python dict literal (``{'a': 1}``, as the control room's callback broker
  forwards it) is accepted where JSON is expected;
* replies are ``1`` to ``UP`` and the ``|``-joined command list to
  ``GET_PCOMMS`` (no terminator, as in dareplane: control rooms compare the
  reply to ``b"1"``); problems are reported as one ASCII line
  ``ERROR <text>\n`` that contains no ``|`` (it is written ``<pipe>``), so a
  control room's callback broker (which splits on ``|``) never mistakes it for
  a callback;
* an unterminated unknown command (``HELLO`` without ``;`` or newline) is
  answered with its ERROR line after the server's idle timeout and dropped
  (dareplane keeps it and glues it onto the next command).
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "BUILT_IN_PCOMMS",
    "Command",
    "CommandError",
    "CommandSplitter",
    "parse_command",
    "format_error",
    "format_pcomms",
    "format_callback",
]

#: Commands every server answers itself, listed last by GET_PCOMMS.
BUILT_IN_PCOMMS = ("STOP", "CLOSE", "GET_PCOMMS", "UP")


class CommandError(ValueError):
    """A received command cannot be framed, decoded or parsed.

    The message is meant for the client: it names what was wrong and how
    to send it correctly.
    """


@dataclass
class Command:
    """One parsed command.

    Attributes
    ----------
    pcomm : str
        The primary command (the part before the first ``|``).
    args : list of str
        Positional arguments of the legacy ``PCOMM|a|b|{json}`` form.
    kwargs : dict
        Keyword arguments from the JSON object payload.
    raw : str
        The decoded command text, for logs and error messages.
    """

    pcomm: str
    args: list = field(default_factory=list)
    kwargs: dict = field(default_factory=dict)
    raw: str = ""


class CommandSplitter:
    r"""Incremental framing of a TCP byte stream into commands.

    Parameters
    ----------
    delimiter : bytes
        The command terminator (dareplane: ``b";"``). ``b"\n"`` always
        terminates a command as well; a ``\r`` before it is dropped.
    max_command_bytes : int
        Longest accepted command. Longer input is discarded up to the next
        terminator and reported once through :meth:`feed`'s error list, so a
        client streaming garbage cannot exhaust memory.
    """

    def __init__(self, delimiter: bytes = b";", max_command_bytes: int = 1 << 20):
        if isinstance(delimiter, str):
            delimiter = delimiter.encode()
        if not isinstance(delimiter, bytes) or len(delimiter) == 0:
            raise ValueError(f"delimiter must be a non-empty bytes or str, got {delimiter!r}")
        if max_command_bytes < 16:
            raise ValueError(f"max_command_bytes={max_command_bytes!r} is too small; use at least 16")
        self.delimiter = delimiter
        self.max_command_bytes = int(max_command_bytes)
        self._buffer = bytearray()
        self._discarding = False

    def _next_terminator(self, start: int) -> tuple[int, int]:
        """Return (position, length) of the earliest terminator, or (-1, 0)."""
        best, length = -1, 0
        for term in (self.delimiter, b"\n"):
            pos = self._buffer.find(term, start)
            if pos != -1 and (best == -1 or pos < best):
                best, length = pos, len(term)
        return best, length

    def feed(self, data: bytes) -> tuple[list[bytes], list[str]]:
        """Add received bytes; return ``(complete commands, framing errors)``.

        Commands are returned stripped of their terminator and surrounding
        whitespace; empty commands (``;;``, blank telnet lines) are dropped.
        """
        self._buffer += data
        commands: list[bytes] = []
        errors: list[str] = []
        while True:
            pos, length = self._next_terminator(0)
            if pos == -1:
                break
            chunk = bytes(self._buffer[:pos])
            del self._buffer[: pos + length]
            if self._discarding:
                self._discarding = False
                continue
            chunk = chunk.strip()
            if chunk:
                commands.append(chunk)
        if len(self._buffer) > self.max_command_bytes:
            if not self._discarding:
                errors.append(
                    f"command longer than {self.max_command_bytes} bytes without a terminator "
                    f"({self.delimiter.decode(errors='replace')!r} or newline); discarded up to the next terminator"
                )
            self._discarding = True
            self._buffer.clear()
        return commands, errors

    def flush(self) -> bytes:
        """Return and clear an unterminated trailing fragment (used at end of stream)."""
        rest = b"" if self._discarding else bytes(self._buffer).strip()
        self._buffer.clear()
        self._discarding = False
        return rest

    def peek(self) -> bytes:
        """Return the unterminated trailing fragment without consuming it."""
        return b"" if self._discarding else bytes(self._buffer).strip()

    @property
    def pending_bytes(self) -> int:
        """Number of buffered bytes that do not form a complete command yet."""
        return len(self._buffer)


def decode_command(raw: bytes) -> str:
    r"""Decode one framed command to text.

    dareplane strips the ``\xc2`` lead byte some telnet clients insert; a
    lone ``\xc2`` is dropped here too, anything else must be UTF-8.
    """
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    cleaned = raw.replace(b"\xc2", b"")
    try:
        return cleaned.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CommandError(
            f"command is not valid UTF-8 (bad byte {raw[exc.start : exc.start + 1]!r} at offset {exc.start}); "
            'send ASCII/UTF-8 text such as PCOMM or PCOMM|{"key": value}'
        ) from None


def _parse_object(text: str, pcomm: str) -> dict:
    """Parse a JSON object (or a Python dict literal) payload into kwargs."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            raise CommandError(
                f'payload of {pcomm!r} is not valid JSON ({exc.msg} at char {exc.pos}); send {pcomm}|{{"key": value}}'
            ) from None
    except (ValueError, RecursionError) as exc:  # valid JSON json cannot read: > 4300 digits, nested too deep
        raise CommandError(
            f"payload of {pcomm!r} cannot be read ({str(exc)[:120]}); "
            f'send {pcomm}|{{"key": value}} with shorter numbers and less nesting'
        ) from None
    if not isinstance(value, dict):
        raise CommandError(
            f"payload of {pcomm!r} is a JSON {type(value).__name__}, not an object of keyword arguments; "
            f'send {pcomm}|{{"key": value}}'
        )
    bad = [k for k in value if not isinstance(k, str) or not k.isidentifier()]
    if bad:
        raise CommandError(f"payload of {pcomm!r} has keys that are not argument names: {bad!r}")
    return value


def parse_command(raw: bytes | str) -> Command:
    """Parse one framed command.

    Parameters
    ----------
    raw : bytes or str
        A command without its terminator.

    Returns
    -------
    Command

    Raises
    ------
    CommandError
        If the command is not UTF-8, has an empty or non-identifier-like
        primary command, or its payload is not a JSON object.
    """
    text = decode_command(raw) if isinstance(raw, (bytes, bytearray)) else str(raw)
    text = text.strip()
    pcomm, sep, rest = text.partition("|")
    pcomm = pcomm.strip()
    if not pcomm:
        raise CommandError("empty primary command; send PCOMM or PCOMM|{json}")
    if not pcomm.isprintable() or any(c.isspace() for c in pcomm):
        raise CommandError(
            f"primary command {pcomm[:40]!r} contains whitespace or control characters; "
            "send GET_PCOMMS; for the list of commands"
        )
    rest = rest.strip()
    if not sep or not rest:
        return Command(pcomm, [], {}, text)
    # the common case: a single JSON object, which may itself contain "|"
    if rest.startswith("{"):
        try:
            return Command(pcomm, [], _parse_object(rest, pcomm), text)
        except CommandError:
            if "|" not in rest:
                raise
    # legacy form: PCOMM|pos1|pos2|{json} (older dareplane modules)
    parts = rest.split("|")
    last = parts[-1].strip()
    kwargs: dict[str, Any] = {}
    if last.startswith("{"):
        kwargs = _parse_object(last, pcomm)
        parts = parts[:-1]
    elif last == "":
        parts = parts[:-1]
    elif len(parts) == 1:
        raise CommandError(
            f"payload {rest[:60]!r} of {pcomm!r} is not a JSON object; "
            f'send {pcomm}|{{"key": value}} (or the legacy {pcomm}|arg1|arg2|{{}})'
        )
    return Command(pcomm, [p.strip() for p in parts], kwargs, text)


#: how an ERROR line spells ``|`` (a control room splits what it receives on ``|``)
PIPE_IN_ERRORS = "<pipe>"


def _ascii_line(text: str, limit: int = 400) -> str:
    text = text.replace("|", PIPE_IN_ERRORS).replace("\r", " ").replace("\n", " ")
    text = text.encode("ascii", "backslashreplace").decode("ascii")
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text


def format_error(text: str) -> bytes:
    r"""Format an error reply: one ASCII line ``ERROR <text>\n`` without ``|``.

    A ``|`` is written ``<pipe>``: ``send START<pipe>{"key": value}`` stands
    for ``START|{"key": value}``.
    """
    return f"ERROR {_ascii_line(text)}\n".encode("ascii")


def format_pcomms(pcomms) -> bytes:
    """Format the GET_PCOMMS reply: module commands then the built-ins, ``|``-joined."""
    names = [p for p in pcomms if p not in BUILT_IN_PCOMMS]
    return "|".join(list(names) + list(BUILT_IN_PCOMMS)).encode()


def format_callback(target: str, pcomm: str, payload: Any = None) -> bytes:
    """Format a callback to the control room: ``<target>|<PCOMM>|<payload>``.

    ``payload`` may be a dict (sent as JSON), a string (sent as is) or None
    (an empty object).
    """
    for label, value in (("target", target), ("pcomm", pcomm)):
        if not isinstance(value, str) or not value or "|" in value or ";" in value:
            raise ValueError(f"callback {label} must be a non-empty string without '|' or ';', got {value!r}")
    if payload is None:
        payload = {}
    if not isinstance(payload, str):
        payload = json.dumps(payload)
    if "\n" in payload or "|" in payload:
        raise ValueError(
            f"callback payload for {target}|{pcomm} must be a single line without '|' "
            f"(the control room splits callbacks on '|'), got {payload!r}"
        )
    return f"{target}|{pcomm}|{payload}".encode()
