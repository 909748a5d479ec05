"""Safe, bounded YAML reading that remembers where every key and value came from.

This is the only module that imports ``ruamel.yaml``. It reads YAML 1.2 (so
``on``/``off``/``yes``/``no`` stay strings, and so do unquoted dates such as
``2024-03-01``: the core schema has no timestamps), refuses duplicate keys, explicit
tags and multi-document files, and turns the result into plain Python data
(dicts, lists, str, int, float, bool, None) plus a :class:`SourceMap` from each
data path to its file, line and column.

Bounds are enforced *before* anything is built: the file size first, then a
streaming pass over the parser's events that measures nesting depth and the
size the document would have once every alias is expanded. An alias bomb is
therefore refused after reading a few hundred bytes of events, never after
materialising millions of nodes.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import hashlib
import io
import json
import os
import re
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml import __version__ as ruamel_version
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    CollectionStartEvent,
    DocumentStartEvent,
    ScalarEvent,
)
from ruamel.yaml.resolver import VersionedResolver
from ruamel.yaml.scalarstring import (
    DoubleQuotedScalarString,
    FoldedScalarString,
    LiteralScalarString,
    SingleQuotedScalarString,
)

from workflow.errors import DefinitionError, Problem

__all__ = [
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "MAX_NODES",
    "Located",
    "Path",
    "SourceMap",
    "YamlDocument",
    "read_yaml",
]

MAX_FILE_BYTES = 1024 * 1024
"""Largest definition file accepted; real ones are tens of kilobytes."""
MAX_DEPTH = 48
"""Deepest nesting of mappings and lists accepted."""
MAX_NODES = 200_000
"""Most nodes a document may have once aliases are expanded."""

Path = tuple[str | int, ...]
"""A path into the data: mapping keys and list indexes, from the root."""

_FLOW_DEPTH_LIMIT = 64
_CORE_TAGS = frozenset(
    "tag:yaml.org,2002:" + name for name in ("str", "int", "float", "bool", "null", "map", "seq")
)


_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"


class _CoreSchemaResolver(VersionedResolver):
    """ruamel's resolver without implicit timestamps, as in YAML 1.2's core schema.

    ruamel resolves ``2024-03-01`` to a date even in YAML 1.2 documents, and an
    impossible date such as ``2024-02-30`` then fails while the document is
    built, with no position. Without the timestamp resolver such scalars stay
    strings, and the definition's own checks report them where they stand.
    """

    @property
    def processing_version(self) -> Any:
        """Always YAML 1.2, even under a ``%YAML 1.1`` directive (no ``yes``/``no`` booleans)."""
        return (1, 2)

    def add_version_implicit_resolver(
        self, version: Any, tag: Any, regexp: Any, first: Any
    ) -> None:
        if tag != _TIMESTAMP_TAG:
            super().add_version_implicit_resolver(version, tag, regexp, first)


@dataclass(frozen=True)
class Located:
    """Where a key and its value stand in a file (1-based lines and columns).

    ``style`` is how a scalar value is written: ``"plain"``, ``"single"`` or
    ``"double"`` (quoted), ``"literal"`` (``|``) or ``"folded"`` (``>``), so
    that a position inside an expression can be mapped back to the file.
    """

    file: str
    key_line: int
    key_column: int
    line: int
    column: int
    style: str = "plain"


class SourceMap:
    """Positions of the keys and values of a document, by data path."""

    def __init__(self, file: str) -> None:
        self.file = file
        self._entries: dict[Path, Located] = {}

    def add(self, path: Path, located: Located) -> None:
        """Record the position of the node at ``path``."""
        self._entries[path] = located

    def get(self, path: Path) -> Located | None:
        """Return the exact position recorded for ``path``, if any."""
        return self._entries.get(path)

    def nearest(self, path: Path) -> Located:
        """Return the position of ``path`` or of its closest recorded ancestor."""
        probe = path
        while probe:
            found = self._entries.get(probe)
            if found is not None:
                return found
            probe = probe[:-1]
        return self._entries.get((), Located(self.file, 1, 1, 1, 1))

    def items(self) -> Iterator[tuple[Path, Located]]:
        """Iterate over every recorded (path, position)."""
        return iter(self._entries.items())

    def graft(self, other: SourceMap, source_prefix: Path, target_prefix: Path) -> None:
        """Copy ``other``'s positions under ``source_prefix`` to ``target_prefix`` here.

        Used when an included file's entries are merged into the including one:
        their positions keep pointing at the included file.
        """
        size = len(source_prefix)
        for path, located in other.items():
            if path[:size] == source_prefix:
                self._entries[target_prefix + path[size:]] = located


@dataclass(frozen=True)
class YamlDocument:
    """A YAML file read into plain data, with its text and source map."""

    file: str
    text: str
    data: Any
    positions: SourceMap


def _problem(file: str, line: int, column: int, message: str) -> DefinitionError:
    return DefinitionError([Problem(file, line, column, message)])


def _mark_problem(file: str, text: str, error: YAMLError) -> DefinitionError:
    """Turn a ruamel error into a positioned problem without its Python repr noise."""
    if isinstance(error, MarkedYAMLError) and error.problem_mark is not None:
        mark = error.problem_mark
        what = " ".join(part for part in (error.context, error.problem) if part)
        if "duplicate key" in what:
            return _problem(
                file,
                mark.line + 1,
                mark.column + 1,
                f"duplicate key {_duplicate_key_name(error)}: a key may appear only once "
                "in a mapping (YAML would silently keep the last one)",
            )
        return _problem(file, mark.line + 1, mark.column + 1, f"YAML syntax error: {what}")
    position = getattr(error, "position", None)
    character = getattr(error, "character", None)
    if isinstance(position, int) and isinstance(character, str | int):
        code = ord(character) if isinstance(character, str) else character
        before = text[:position]
        line = before.count("\n") + 1
        column = position - (before.rfind("\n") + 1) + 1
        return _problem(
            file, line, column, f"the character U+{code:04X} is not allowed in YAML text"
        )
    return _problem(file, 1, 1, f"YAML error: {type(error).__name__}")


def _duplicate_key_name(error: MarkedYAMLError) -> str:
    found = re.search(r'duplicate key "(.*?)" with value', error.problem or "")
    return repr(found.group(1)) if found else "in this mapping"


def _check_flow_depth(file: str, text: str) -> None:
    """Refuse runaway ``[[[[`` nesting before the parser sees it.

    ruamel's scanner keeps every pending flow level as a possible simple key
    and rescans them for each token, so a line of a thousand unclosed brackets
    costs most of a second before any event reaches the depth check below.
    Counting brackets naively (quotes ignored) over-counts only text that
    holds dozens of unbalanced brackets, which no definition does.
    """
    depth = 0
    line = 1
    column = 0
    for char in text:
        column += 1
        if char == "\n":
            line, column = line + 1, 0
        elif char in "[{":
            depth += 1
            if depth > _FLOW_DEPTH_LIMIT:
                raise _problem(
                    file, line, column, f"nesting is deeper than the limit of {MAX_DEPTH} levels"
                )
        elif char in "]}" and depth > 0:
            depth -= 1


def _check_bounds(file: str, text: str) -> None:
    """Walk the parser's event stream and refuse what would be too big or too deep.

    Each anchored node's expanded size is remembered, so an alias costs what
    it stands for; the total is the size of the fully expanded document.
    """
    stack: list[list[Any]] = []  # [anchor, size] per open collection
    anchor_sizes: dict[str, int] = {}
    total = 0
    documents = 0
    parser = YAML(typ="rt")
    for event in parser.parse(io.StringIO(text)):
        if isinstance(event, DocumentStartEvent):
            documents += 1
            if documents > 1:
                mark = event.start_mark
                raise _problem(
                    file,
                    mark.line + 1,
                    mark.column + 1,
                    "a definition file holds one YAML document; found a second '---'",
                )
        # Of the node events, only scalars and collection starts carry a tag (aliases do not).
        if isinstance(event, ScalarEvent | CollectionStartEvent):
            tag = event.tag
            if tag is not None and str(tag) not in _CORE_TAGS and str(tag) != "!":
                mark = event.start_mark
                raise _problem(
                    file,
                    mark.line + 1,
                    mark.column + 1,
                    f"YAML tags such as {tag!s} are not allowed in definitions",
                )
        size: int | None = None
        anchor: str | None = None
        if isinstance(event, CollectionStartEvent):
            stack.append([event.anchor, 1])
            if len(stack) > MAX_DEPTH:
                mark = event.start_mark
                raise _problem(
                    file,
                    mark.line + 1,
                    mark.column + 1,
                    f"nesting is deeper than the limit of {MAX_DEPTH} levels",
                )
            continue
        if isinstance(event, CollectionEndEvent):
            anchor, size = stack.pop()
        elif isinstance(event, ScalarEvent):
            anchor, size = event.anchor, 1
        elif isinstance(event, AliasEvent):
            size = anchor_sizes.get(event.anchor, 1)
        if size is None:
            continue
        if anchor is not None:
            anchor_sizes[anchor] = size
        if stack:
            stack[-1][1] += size
        else:
            total += size
        if total + sum(frame[1] for frame in stack) > MAX_NODES:
            mark = event.start_mark
            raise _problem(
                file,
                mark.line + 1,
                mark.column + 1,
                f"the document expands to more than {MAX_NODES} nodes through aliases "
                "(an alias bomb?); definitions are far smaller",
            )


def _style(value: object) -> str:
    if isinstance(value, DoubleQuotedScalarString):
        return "double"
    if isinstance(value, SingleQuotedScalarString):
        return "single"
    if isinstance(value, LiteralScalarString):
        return "literal"
    if isinstance(value, FoldedScalarString):
        return "folded"
    return "plain"


def _key_position(node: CommentedMap, key: object) -> tuple[int, int, int, int] | None:
    """Find a key's (key line, key col, value line, value col), looking into merges."""
    # A mapping made only of a merge (`<<: *base`) has no line data of its own.
    data = (node.lc.data or {}).get(key)
    if data is not None:
        return int(data[0]), int(data[1]), int(data[2]), int(data[3])
    for source in getattr(node, "merge", ()):
        mapping = source[1] if isinstance(source, tuple) else source
        if isinstance(mapping, CommentedMap) and key in mapping:
            found = _key_position(mapping, key)
            if found is not None:
                return found
    return None


def _plain(
    value: Any,
    path: Path,
    where: Located,
    positions: SourceMap,
    file: str,
    inside: set[int] | None = None,
) -> Any:
    """Convert ruamel's round-trip node into plain data, recording positions.

    ``inside`` holds the containers being converted on the way down: an alias
    to one of them (``&a [*a]``) would make the data infinite.
    """
    positions.add(path, where)
    if isinstance(value, CommentedMap | CommentedSeq):
        inside = set() if inside is None else inside
        if id(value) in inside:
            raise _problem(
                file,
                where.line,
                where.column,
                "an alias refers to a node that contains it: the data would never end",
            )
        inside.add(id(value))
        try:
            return _container(value, path, where, positions, file, inside)
        finally:
            inside.discard(id(value))
    return _scalar(value)


def _container(
    value: CommentedMap | CommentedSeq,
    path: Path,
    where: Located,
    positions: SourceMap,
    file: str,
    inside: set[int],
) -> Any:
    if isinstance(value, CommentedMap):
        result: dict[str, Any] = {}
        for key in value:
            found = _key_position(value, key)
            if found is None:
                child = where
            else:
                key_line, key_col, val_line, val_col = found
                child = Located(
                    file,
                    key_line + 1,
                    key_col + 1,
                    val_line + 1,
                    val_col + 1,
                    _style(value[key]),
                )
            name = key if isinstance(key, str) else str(_scalar(key))
            result[name] = _plain(value[key], (*path, name), child, positions, file, inside)
        return result
    items: list[Any] = []
    for index, item in enumerate(value):
        line_col = value.lc.data.get(index)
        if line_col is None:
            child = where
        else:
            line, col = int(line_col[0]) + 1, int(line_col[1]) + 1
            child = Located(file, line, col, line, col, _style(item))
        items.append(_plain(item, (*path, index), child, positions, file, inside))
    return items


def _scalar(value: Any) -> Any:
    """Strip ruamel's scalar subclasses down to the builtin types."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return str(value)


def read_yaml(file: str, text: str | None = None) -> YamlDocument:
    """Read one YAML file (or ``text`` given for it) into plain data and positions.

    Raises :class:`~workflow.errors.DefinitionError` with a positioned problem
    for oversized, malformed, over-deep or alias-bombed input; never another
    exception for any content.
    """
    from_file = text is None
    if text is None:
        try:
            with open(file, "rb") as handle:
                raw = handle.read(MAX_FILE_BYTES + 1)
        except OSError as error:
            raise _problem(file, 1, 1, f"cannot read the file: {error.strerror}") from None
        if len(raw) > MAX_FILE_BYTES:
            raise _problem(
                file, 1, 1, f"the file is larger than the limit of {MAX_FILE_BYTES} bytes"
            )
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise _problem(file, 1, 1, f"the file is not UTF-8 text (byte {error.start})") from None
    elif len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        raise _problem(file, 1, 1, f"the file is larger than the limit of {MAX_FILE_BYTES} bytes")
    key = (file, hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest())
    cached = _READ.get(key)
    if cached is not None:
        _READ.move_to_end(key)
        # The caller may change the data (includes are merged into it): a copy each time.
        return dataclasses.replace(cached, data=copy.deepcopy(cached.data))
    document = _from_disk(file, text) if from_file else None
    if document is None:
        document = _read(file, text)
        if from_file:
            _to_disk(document)
    _READ[key] = document
    if len(_READ) > _READ_CACHE_SIZE:
        _READ.popitem(last=False)
    return dataclasses.replace(document, data=copy.deepcopy(document.data))


# Parsing is the slow part of loading definitions (ruamel's round-trip reader is
# pure Python): a catalog reads each shared include once per definition, and a
# process may load the same folder more than once. Keyed by file name and
# content, so an edited file is always read again.
_READ: OrderedDict[tuple[str, bytes], YamlDocument] = OrderedDict()
_READ_CACHE_SIZE = 256


# Across processes (every `workflow` command loads the definitions), parsed
# files are kept as JSON under the user's cache folder, named by a digest of
# the text, the reader's version and ruamel's: never pickle, and a damaged or
# foreign entry is simply parsed again. WORKFLOW_YAML_CACHE=off turns it off;
# WORKFLOW_YAML_CACHE=DIR puts it elsewhere.
_CACHE_FORMAT = "1"
# Entries are named by content, so every edit of a definition adds one: past
# _CACHE_LIMIT the least recently used go, down to _CACHE_KEEP (a hit touches
# its entry). A few hundred small files at most.
_CACHE_LIMIT = 512
_CACHE_KEEP = 384
_STALE_PARTIAL_SECONDS = 3600.0


def _cache_folder() -> str | None:
    chosen = os.environ.get("WORKFLOW_YAML_CACHE", "")
    if chosen.lower() in ("off", "0", "no", "false"):
        return None
    if chosen:
        return chosen
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "service-workflow", "yaml")


def _cache_path(text: str) -> str | None:
    folder = _cache_folder()
    if folder is None:
        return None
    digest = hashlib.sha256(
        f"{_CACHE_FORMAT}\0{ruamel_version}\0".encode() + text.encode("utf-8", "surrogatepass")
    ).hexdigest()
    return os.path.join(folder, f"{digest}.json")


def _from_disk(file: str, text: str) -> YamlDocument | None:
    path = _cache_path(text)
    if path is None:
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            stored = json.load(handle)
        _touch(path)
        positions = SourceMap(file)
        for entry in stored["positions"]:
            where, key_line, key_column, line, column, style = entry
            positions.add(tuple(where), Located(file, key_line, key_column, line, column, style))
        return YamlDocument(file=file, text=text, data=stored["data"], positions=positions)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _to_disk(document: YamlDocument) -> None:
    path = _cache_path(document.text)
    if path is None:
        return
    stored = {
        "data": document.data,
        "positions": [
            [list(where), at.key_line, at.key_column, at.line, at.column, at.style]
            for where, at in document.positions.items()
        ],
    }
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        partial = f"{path}.{os.getpid()}.tmp"
        with open(partial, "w", encoding="utf-8") as handle:
            json.dump(stored, handle, ensure_ascii=False)
        os.replace(partial, path)  # whole or not at all, even with several processes
    except (OSError, TypeError, ValueError):
        return  # a read-only home, a full disk: reading goes on without the cache
    _prune(os.path.dirname(path))


def _touch(path: str) -> None:
    """Mark a cache entry as just used (pruning drops the least recently used)."""
    with contextlib.suppress(OSError):  # a read-only cache still serves
        os.utime(path)


def _prune(folder: str) -> None:
    """Keep the cache folder bounded: the least recently used entries go past the limit.

    Only after a new entry was written (a cache miss), so reading costs
    nothing more. Several processes may prune at once: an entry another one
    removed first is simply skipped, and a reader that loses its entry
    parses the file again. Partial files left by a process that died while
    writing are removed once they are an hour old.
    """
    try:
        found = []
        now = time.time()
        with os.scandir(folder) as entries:
            for entry in entries:
                stat = entry.stat()
                if entry.name.endswith(".json"):
                    found.append((stat.st_mtime, entry.path))
                elif entry.name.endswith(".tmp") and now - stat.st_mtime > _STALE_PARTIAL_SECONDS:
                    _remove(entry.path)
    except OSError:
        return
    if len(found) <= _CACHE_LIMIT:
        return
    found.sort()
    for _, path in found[: len(found) - _CACHE_KEEP]:
        _remove(path)


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):  # gone already, or not ours to remove
        os.remove(path)


def _read(file: str, text: str) -> YamlDocument:
    """Parse ``text`` (already read and size-checked) into plain data and positions."""
    try:
        _check_flow_depth(file, text)
        _check_bounds(file, text)
        loader = YAML(typ="rt")
        loader.Resolver = _CoreSchemaResolver
        loader.preserve_quotes = True
        loader.allow_duplicate_keys = False
        tree = loader.load(text)
    except DefinitionError:
        raise
    except YAMLError as error:
        raise _mark_problem(file, text, error) from None
    except (RecursionError, MemoryError, ValueError, TypeError, AttributeError) as error:
        raise _problem(file, 1, 1, f"the YAML could not be read: {type(error).__name__}") from None
    positions = SourceMap(file)
    data = _plain(tree, (), Located(file, 1, 1, 1, 1), positions, file)
    return YamlDocument(file=file, text=text, data=data, positions=positions)
