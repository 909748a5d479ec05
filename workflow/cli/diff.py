"""``workflow diff OLD NEW``: what a new definition version changes, and for which items.

OLD and NEW are definition files, or ``ID@VERSION`` (``ID`` alone: the
newest version) of the ``--definitions`` folder. The command prints the
structured difference of :mod:`workflow.definition.diff` as text, Markdown or
JSON. With ``--db URL`` it also counts the running items pinned to OLD, by
state, with what each state's items would notice on migrating to NEW (their
state gone, a changed time limit or ladder, events they could fire no longer
there), and runs the very check of ``workflow migrate --dry-run`` with NEW
as the target (``--map OLD=NEW`` as there).

Exit status: 0 when the command ran, whether or not the versions differ;
with ``--exit-code`` (as ``git diff --exit-code``) 1 when they differ. With
``--db``, 5 when the migration check refuses (the items that cannot move and
why are printed first), as ``workflow migrate --dry-run`` would.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import click

from workflow.cli.db import display_url, open_database
from workflow.cli.output import CommandLineError, dumps, table
from workflow.definition.loader import Catalog, load_catalog, load_definition
from workflow.errors import DefinitionError, MigrationRefused

if TYPE_CHECKING:
    from workflow.core.engine import Core
    from workflow.definition.compiled import Definition
    from workflow.definition.diff import Change, DefinitionDiff, StateImpact

__all__ = ["MigrationImpact", "StateCount", "diff", "migration_impact"]

_DIFFERENT = 1
_BAD_COMMAND_LINE = 2
_NOT_FOUND = 3
_REFUSED = 5
_PAGE = 1000

_SECTION_TITLES = (
    ("workflow", "Workflow"),
    ("fields", "Fields"),
    ("roles", "Roles"),
    ("states", "States"),
    ("events", "Events"),
    ("escalation", "Escalation ladder"),
    ("reviews", "Reviews"),
)
_MARKS = {"added": "+", "removed": "-", "changed": "~"}


@dataclass(frozen=True)
class StateCount:
    """The running items pinned to OLD in one state, and what they meet in NEW."""

    impact: StateImpact
    items: int
    mapped_to: str | None = None

    def notes(self) -> list[str]:
        """Say in a few words what these items notice on migrating."""
        impact = self.impact
        notes: list[str] = []
        if impact.removed and self.mapped_to:
            notes.append(f"state removed: mapped to {self.mapped_to}")
        elif impact.removed:
            notes.append("state removed: cannot migrate without --map")
        if impact.deadline_changed:
            notes.append("time limit changed")
        if impact.ladder_changed:
            notes.append("ladder changed")
        if impact.events_lost:
            notes.append("loses " + ", ".join(impact.events_lost))
        if impact.events_gained:
            notes.append("gains " + ", ".join(impact.events_gained))
        return notes or ["unchanged"]

    def as_json(self) -> dict[str, Any]:
        """Return the count as plain JSON values."""
        impact = self.impact
        return {
            "state": impact.state,
            "items": self.items,
            "removed": impact.removed,
            "mapped_to": self.mapped_to,
            "deadline_changed": impact.deadline_changed,
            "ladder_changed": impact.ladder_changed,
            "events_lost": list(impact.events_lost),
            "events_gained": list(impact.events_gained),
        }


@dataclass(frozen=True)
class MigrationImpact:
    """Running items of OLD's workflow, and whether ``migrate`` would take them to NEW."""

    states: tuple[StateCount, ...]
    other_versions: Mapping[int, int]
    """Running items pinned to other versions than OLD's: how many per version."""
    plan: Mapping[str, int] | None
    """The dry run's moves (``old->new`` state: items) when migrating is possible."""
    refused: tuple[str, ...] = ()
    """Why the dry run refuses, as ``workflow migrate`` says it (nothing moves then)."""
    not_checked: str | None = None
    """Why no dry run was made (NEW is not a later version of OLD's workflow)."""
    mapping: Mapping[str, str] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """The running items pinned to OLD."""
        return sum(count.items for count in self.states)

    @property
    def affected(self) -> int:
        """The running items pinned to OLD whose state notices the change."""
        return sum(count.items for count in self.states if count.impact.affected)

    def as_json(self) -> dict[str, Any]:
        """Return the impact as plain JSON values."""
        return {
            "items": self.total,
            "affected": self.affected,
            "by_state": [count.as_json() for count in self.states],
            "other_versions": {str(v): n for v, n in sorted(self.other_versions.items())},
            "dry_run": {
                "checked": self.not_checked is None,
                "not_checked": self.not_checked,
                "map": dict(self.mapping),
                "moves": dict(self.plan) if self.plan is not None else None,
                "refused": list(self.refused),
            },
        }


def migration_impact(
    engine: Core, old: Definition, new: Definition, state_map: Mapping[str, str] | None = None
) -> MigrationImpact:
    """Count ``engine``'s running items of OLD's workflow by state and dry-run the migration.

    The engine's catalog must hold NEW (and may hold OLD); the dry run is
    :meth:`~workflow.core.engine.Core.migrate` with ``dry_run=True``, the
    check ``workflow migrate --dry-run`` makes, so the two never disagree.
    """
    mapping = dict(state_map or {})
    pinned: dict[str, int] = {}
    others: dict[str, int] = {}
    versions: dict[str, int] = {}
    after: int | None = None
    while True:
        page = engine.list(workflow_id=old.id, is_open=True, after_id=after, limit=_PAGE)
        for item in page:
            if item.definition_hash == old.hash:
                pinned[item.state] = pinned.get(item.state, 0) + 1
            else:
                others[item.definition_hash] = others.get(item.definition_hash, 0) + 1
                if item.definition_hash not in versions:
                    versions[item.definition_hash] = engine.definition(item).version
        if len(page) < _PAGE:
            break
        after = page[-1].id
    other_versions: dict[int, int] = {}
    for digest, count in others.items():
        other_versions[versions[digest]] = other_versions.get(versions[digest], 0) + count
    from workflow.definition.diff import state_impact  # noqa: PLC0415 - keep start-up light

    states = tuple(
        StateCount(state_impact(old, new, state), pinned[state], mapping.get(state))
        for state in old.leaves()
        if state in pinned
    )
    if new.id != old.id or new.version <= old.version:
        reason = (
            f"NEW is workflow {new.id!r}, not {old.id!r}"
            if new.id != old.id
            else f"NEW's version {new.version} is not above OLD's {old.version}"
        )
        return MigrationImpact(states, other_versions, None, not_checked=reason, mapping=mapping)
    try:
        plan = engine.migrate(old.id, to_version=new.version, state_map=mapping, dry_run=True)
    except MigrationRefused as refusal:
        return MigrationImpact(states, other_versions, None, refusal.reasons, mapping=mapping)
    return MigrationImpact(states, other_versions, plan, mapping=mapping)


# -- the command ---------------------------------------------------------------------------


def _resolve(text: str, definitions: str) -> Definition:
    """Return the definition named by a file path, ``ID@VERSION`` or ``ID``."""
    if os.path.isfile(text):
        return load_definition(_display(text))
    workflow_id, _, version = text.partition("@")
    if version and not version.isdigit():
        raise CommandLineError(
            f"{text!r} is neither a file nor ID@VERSION (e.g. enterprise_issue@1)",
            _BAD_COMMAND_LINE,
        )
    if os.sep in text or text.endswith((".yaml", ".yml")):
        raise CommandLineError(f"no such file: {text}", _NOT_FOUND)
    catalog, problems = load_catalog([_display(definitions)])
    if problems:
        raise DefinitionError(problems)
    return catalog.get(workflow_id, int(version) if version else None)


def _display(path: str) -> str:
    try:
        relative = os.path.relpath(path)
    except ValueError:
        return path
    return path if relative.startswith("..") else relative


def _parse_map(pairs: Sequence[str]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for pair in pairs:
        source, sep, target = pair.partition("=")
        if not sep or not source or not target:
            raise CommandLineError(f"--map {pair!r}: expected OLD=NEW", _BAD_COMMAND_LINE)
        mapping[source.strip()] = target.strip()
    return mapping


def _database_url(ctx: click.Context, given: str | None) -> str | None:
    """Return the ``--db`` of the command, or the global one if given on the command line."""
    if given:
        return given
    parent = ctx.parent
    if parent is not None:
        source = parent.get_parameter_source("database_url")
        if source is click.core.ParameterSource.COMMANDLINE:
            url = parent.params.get("database_url")
            return url if isinstance(url, str) else None
    return None


def _impact_from_database(
    url: str, prefix: str, old: Definition, new: Definition, mapping: Mapping[str, str]
) -> MigrationImpact:
    from workflow.app import Engine  # noqa: PLC0415 - keep start-up light

    catalog = Catalog([new])
    if old.id != new.id or old.version != new.version:
        catalog.add(old)
    with open_database(url) as bind:
        engine = Engine.from_engine(bind, definitions=catalog, prefix=prefix)
        return migration_impact(engine, old, new, mapping)


@click.command("diff", short_help="What a new definition version changes, and for which items.")
@click.argument("old_text", metavar="OLD")
@click.argument("new_text", metavar="NEW")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "markdown"]),
    default="text",
    show_default=True,
)
@click.option(
    "--db",
    "database_url",
    metavar="URL",
    default=None,
    help="Also count the running items this database holds, by state, and dry-run migrating.",
)
@click.option(
    "--map",
    "maps",
    multiple=True,
    metavar="OLD=NEW",
    help="With --db: move items in state OLD to state NEW in the dry run (repeatable).",
)
@click.option(
    "--exit-code", is_flag=True, help="Exit 1 when the versions differ (as git diff does)."
)
@click.pass_context
def diff(
    ctx: click.Context,
    *,
    old_text: str,
    new_text: str,
    fmt: str,
    database_url: str | None,
    maps: Sequence[str],
    exit_code: bool,
) -> None:
    """Show what NEW changes against OLD: states, events, roles, fields, deadlines, ladder.

    OLD and NEW are definition files or ID@VERSION of the definitions folder.
    With --db, also count the running items pinned to OLD by state, say what
    each state's items would notice, and dry-run `workflow migrate` to NEW.
    Exits 0 (1 with --exit-code when they differ; 5 when the dry run refuses).
    """
    definitions = ctx.obj["definitions"] if ctx.obj else "definitions"
    old = _resolve(old_text, definitions)
    new = _resolve(new_text, definitions)
    from workflow.definition.diff import diff_definitions  # noqa: PLC0415 - keep start-up light

    mapping = _parse_map(maps)
    found = diff_definitions(old, new)
    url = _database_url(ctx, database_url)
    impact = None
    if url is not None:
        prefix = ctx.obj.get("prefix", "wf_") if ctx.obj else "wf_"
        impact = _impact_from_database(url, prefix, old, new, mapping)
    if fmt == "json":
        body = found.as_json()
        if impact is not None:
            body["database"] = {"url": display_url(url or ""), **impact.as_json()}
        click.echo(dumps(body))
    elif fmt == "markdown":
        click.echo(markdown(found, old, new, impact), nl=False)
    else:
        click.echo(text(found, old, new, impact, url), nl=False)
    if impact is not None and impact.refused:
        sys.exit(_REFUSED)
    if exit_code and found.changes:
        sys.exit(_DIFFERENT)


# -- rendering -----------------------------------------------------------------------------


def _heading(found: DefinitionDiff, old: Definition, new: Definition) -> str:
    return (
        f"{old.id} v{found.old_version} → {new.id} v{found.new_version}  "
        f"({found.old_hash[:12]} → {found.new_hash[:12]})"
    )


def _count(changes: Sequence[Change]) -> str:
    return f"{len(changes)} change{'' if len(changes) == 1 else 's'}"


def text(
    found: DefinitionDiff,
    old: Definition,
    new: Definition,
    impact: MigrationImpact | None,
    url: str | None = None,
) -> str:
    """Return the diff (and the items' impact) as plain text for a terminal."""
    lines = [_heading(found, old, new)]
    if not found.changes:
        lines.append("no differences" if found.identical else "no differences in content")
    for section, title in _SECTION_TITLES:
        changes = found.section(section)
        if changes:
            lines.append(f"{title}:")
            lines.extend(f"  {_MARKS[c.kind]} {c.description}" for c in changes)
    if found.renames:
        lines.append("Looks like a rename:")
        lines.extend(f"  ? {hint.description}" for hint in found.renames)
    if found.changes:
        lines.append(_count(found.changes))
    if impact is not None:
        lines.append("")
        lines.extend(_impact_text(impact, old, new, url))
    return "\n".join(lines) + "\n"


def _impact_text(
    impact: MigrationImpact, old: Definition, new: Definition, url: str | None
) -> list[str]:
    where = f" in {display_url(url)}" if url else ""
    lines = [f"Running items{where} pinned to {old.id} v{old.version}: {impact.total}"]
    if impact.states:
        rows = [(c.impact.state, c.items, "; ".join(c.notes())) for c in impact.states]
        lines.append(table(["state", "items", f"on migrating to v{new.version}"], rows))
        lines.append(f"{impact.affected} of {impact.total} item(s) in states the change touches")
    lines.extend(
        f"{count} running item(s) pinned to v{version}"
        for version, count in sorted(impact.other_versions.items())
    )
    lines.extend(_verdict(impact, new))
    return lines


def _verdict(impact: MigrationImpact, new: Definition) -> list[str]:
    if impact.not_checked is not None:
        return [f"migrate --dry-run: not checked ({impact.not_checked})"]
    if impact.refused:
        return [
            f"migrate --dry-run to v{new.version}: refused, nothing would move:",
            *(f"  {reason}" for reason in impact.refused),
        ]
    plan = impact.plan or {}
    moved = sum(plan.values())
    return [f"migrate --dry-run to v{new.version}: would move {moved} item(s)"]


def markdown(
    found: DefinitionDiff, old: Definition, new: Definition, impact: MigrationImpact | None
) -> str:
    """Return the diff (and the items' impact) as Markdown, e.g. for a merge request."""
    lines = [f"## `{old.id}` v{found.old_version} → v{found.new_version}", ""]
    if not found.changes:
        lines.extend(["No differences.", ""])
    for section, title in _SECTION_TITLES:
        changes = found.section(section)
        if changes:
            lines.append(f"### {title}")
            lines.append("")
            lines.extend(f"- **{c.kind}** `{c.path}`: {_md(c.description)}" for c in changes)
            lines.append("")
    if found.renames:
        lines.extend(["### Looks like a rename", ""])
        lines.extend(f"- {_md(hint.description)}" for hint in found.renames)
        lines.append("")
    if impact is not None:
        lines.extend([f"### Running items pinned to v{old.version}: {impact.total}", ""])
        if impact.states:
            lines.append(f"| state | items | on migrating to v{new.version} |")
            lines.append("|---|---:|---|")
            lines.extend(
                f"| `{c.impact.state}` | {c.items} | {_md('; '.join(c.notes()))} |"
                for c in impact.states
            )
            lines.append("")
        lines.extend(
            f"- {count} running item(s) pinned to v{version}"
            for version, count in sorted(impact.other_versions.items())
        )
        lines.extend(_md(line) for line in _verdict(impact, new))
        lines.append("")
    return "\n".join(lines)


def _md(text: str) -> str:
    """Escape what a Markdown table or emphasis would take as markup."""
    return text.replace("|", "\\|").replace("*", "\\*")
