"""A small reader/writer for gettext .po catalogs, for the catalog checks and the ``po`` command.

Only what Django's makemessages writes is supported: msgctxt, msgid, msgid_plural, msgstr and
msgstr[n], multi-line strings, ``#,`` flags and comments. Entries are blocks separated by blank lines.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

_KEY = re.compile(r'^(msgctxt|msgid_plural|msgid|msgstr(?:\[(\d+)\])?)\s+(".*")\s*$')


@dataclass
class Entry:
    comments: list[str] = field(default_factory=list)
    flags: set[str] = field(default_factory=set)
    msgctxt: str | None = None
    msgid: str = ""
    msgid_plural: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)
    obsolete: bool = False

    @property
    def key(self) -> tuple[str | None, str]:
        return (self.msgctxt, self.msgid)

    @property
    def translated(self) -> bool:
        if self.msgid_plural is not None:
            return bool(self.msgstr) and all(self.msgstr.values())
        return bool(self.msgstr.get(0))


def _unquote(text: str) -> str:
    return ast.literal_eval(text)


def _quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\t", "\\t")
    parts = escaped.split("\n")
    if len(parts) == 1:
        return f'"{escaped}"'
    lines = [p + "\\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])
    return '""\n' + "\n".join(f'"{line}"' for line in lines)


def parse(text: str) -> list[Entry]:
    entries: list[Entry] = []
    for block in re.split(r"\n\s*\n", text.strip("\n")):
        entry = Entry()
        current: tuple[str, int] | None = None
        for raw in block.splitlines():
            line = raw.strip()
            if line.startswith("#~"):
                entry.obsolete = True
                continue
            if line.startswith("#,"):
                entry.flags |= {f.strip() for f in line[2:].split(",") if f.strip()}
                entry.comments.append(raw)
                continue
            if line.startswith("#"):
                entry.comments.append(raw)
                continue
            match = _KEY.match(line)
            if match:
                name, index, value = match.group(1), match.group(2), _unquote(match.group(3))
                if name.startswith("msgstr"):
                    current = ("msgstr", int(index or 0))
                    entry.msgstr[current[1]] = value
                else:
                    current = (name, 0)
                    setattr(entry, name, value)
            elif line.startswith('"') and current:
                value = _unquote(line)
                if current[0] == "msgstr":
                    entry.msgstr[current[1]] += value
                else:
                    setattr(entry, current[0], getattr(entry, current[0]) + value)
        if entry.obsolete and entry.msgid == "" and not entry.msgstr:
            continue
        entries.append(entry)
    return entries


def render(entries: list[Entry]) -> str:
    out = []
    for entry in entries:
        lines = [c for c in entry.comments if not c.startswith(("#,", "#|"))]
        flags = sorted(entry.flags)
        if flags:
            lines.append("#, " + ", ".join(flags))
        # gettext wants "#|" (previous msgid of a fuzzy match) after the flags; it is dropped once translated
        if "fuzzy" in entry.flags:
            lines.extend(c for c in entry.comments if c.startswith("#|"))
        if entry.msgctxt is not None:
            lines.append("msgctxt " + _quote(entry.msgctxt))
        lines.append("msgid " + _quote(entry.msgid))
        if entry.msgid_plural is not None:
            lines.append("msgid_plural " + _quote(entry.msgid_plural))
            for index in sorted(entry.msgstr) or [0]:
                lines.append(f"msgstr[{index}] " + _quote(entry.msgstr.get(index, "")))
        else:
            lines.append("msgstr " + _quote(entry.msgstr.get(0, "")))
        out.append("\n".join(lines))
    return "\n\n".join(out) + "\n"


def load(path: Path) -> list[Entry]:
    return parse(Path(path).read_text(encoding="utf-8"))


def untranslated(entries: list[Entry]) -> list[Entry]:
    """Entries (other than the header) that lack a translation or are marked fuzzy."""
    return [e for e in entries if e.msgid and not e.obsolete and (not e.translated or "fuzzy" in e.flags)]
