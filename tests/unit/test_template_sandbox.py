"""Templates cannot reach Python internals, and cannot make a render cost much.

Every payload must fail with a typed :class:`~workflow.errors.TemplateError`
within the caps: in well under a second, with traced memory far below 50 MB.
Each is tried twice: through :class:`TemplateSet` (the static checks may
refuse it before it runs) and straight through the sandbox, with no static
check, so that the runtime defences are proven on their own.
"""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from workflow.definition.templates.limits import DEFAULT_LIMITS, Limits
from workflow.definition.templates.sandbox import (
    SandboxEnvironment,
    compile_template,
    render_blocks,
)
from workflow.definition.templates.templateset import TemplateSet
from workflow.errors import (
    TemplateError,
    TemplateLimitExceeded,
    TemplateSecurityError,
    TemplateUndefined,
)

MAX_SECONDS = 1.0
MAX_PEAK_BYTES = 50 * 1024 * 1024


def page(body: str) -> str:
    return f"{{% block subject %}}s{{% endblock %}}{{% block body %}}{body}{{% endblock %}}"


def raw(
    body: str, context: Mapping[str, Any] | None = None, limits: Limits = DEFAULT_LIMITS
) -> str:
    """Render through the sandbox alone: no static checks."""
    environment = SandboxEnvironment()
    compiled = compile_template(environment, page(body), "t", "t.j2", {})
    return render_blocks(compiled, dict(context or {}), limits)["body"]


def checked(tmp_path: Path, body: str, context: Mapping[str, Any] | None = None) -> str:
    """Render through a template set, as the dispatcher does."""
    folder = tmp_path / "_templates"
    folder.mkdir(exist_ok=True)
    (folder / "probe.zh.j2").write_text(page(body), encoding="utf-8")
    return TemplateSet.from_folders([folder]).render("probe", "zh", dict(context or {})).body


@contextmanager
def bounded() -> Iterator[None]:
    """Assert that the block runs within the time and memory bounds."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        yield
    finally:
        elapsed = time.perf_counter() - started
        _current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert elapsed < MAX_SECONDS, f"took {elapsed:.2f} s"
        assert peak < MAX_PEAK_BYTES, f"peak {peak / 1e6:.1f} MB"


# -- published sandbox escapes ---------------------------------------------------------------------

ESCAPES = {
    # CVE-2016-10745: str.format reaches attributes without the sandbox's checks.
    "CVE-2016-10745": "{{ '{0.__class__.__base__.__subclasses__}'.format(1) }}",
    "CVE-2016-10745 via globals": "{{ '{0.__init__.__globals__}'.format(joiner()) }}",
    # CVE-2019-10906: the same through str.format_map.
    "CVE-2019-10906": "{{ '{a.__class__.__mro__}'.format_map({'a': 1}) }}",
    # CVE-2024-56326: a stored reference to a string's format method, called later.
    "CVE-2024-56326": (
        "{% set ns = namespace(run='{0.__call__.__builtins__[__import__]}'.format) %}"
        "{{ ns.run(not_here) }}"
    ),
    "CVE-2024-56326 with a callable": (
        "{% set ns = namespace(run='{0.__call__.__globals__}'.format) %}{{ ns.run(joiner) }}"
    ),
    # CVE-2025-27516: the |attr filter fetches str.format around the sandbox.
    "CVE-2025-27516": "{{ '{0.__call__.__builtins__[__import__]}' | attr('format')(not_here) }}",
}


@pytest.mark.parametrize("body", ESCAPES.values(), ids=ESCAPES.keys())
def test_published_escapes_fail_in_the_sandbox(tmp_path: Path, body: str) -> None:
    with bounded():
        with pytest.raises(TemplateSecurityError):
            checked(tmp_path, body)
        with pytest.raises(TemplateError) as caught:
            raw(body)
    # Without the static checks, |attr is simply not a filter here (a compile error).
    assert isinstance(caught.value, TemplateSecurityError) or "attr" in str(caught.value)


PROBES = {
    "__class__": "{{ x.__class__ }}",
    "__subclasses__": "{{ x.__class__.__subclasses__() }}",
    "__mro__ by item": "{{ x['__class__']['__mro__'] }}",
    "__globals__ of a macro": "{% macro m() %}{% endmacro %}{{ m._func.__globals__ }}",
    "__init__ of cycler": "{{ cycler.__init__.__globals__.os }}",
    "__init__ of joiner": "{{ joiner.__init__.__globals__ }}",
    "__init__ of namespace": "{{ namespace.__init__.__globals__ }}",
    "__mro__ of a string": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "format reaching __init__": "{{ '{0.__init__}'.format(namespace) }}",
    "list mutation": "{{ [].append(1) }}",
    "dict mutation": "{{ {}.update({'a': 1}) }}",
    "builtin method off the list": "{{ (1).to_bytes(10, 'big') }}",
    "str.translate": "{{ 'x'.translate({120: 'y'}) }}",
    "str.encode": "{{ 'x'.encode() }}",
    "classmethod of dict": "{{ dict.fromkeys(range(3)) }}",
}


@pytest.mark.parametrize("body", PROBES.values(), ids=PROBES.keys())
def test_python_internals_are_out_of_reach(tmp_path: Path, body: str) -> None:
    with bounded():
        with pytest.raises(TemplateSecurityError):
            raw(body, {"x": {"a": 1}})
        with pytest.raises(TemplateSecurityError):
            checked(tmp_path, body, {"x": {"a": 1}})


def test_lipsum_is_not_there(tmp_path: Path) -> None:
    with pytest.raises(TemplateUndefined, match="lipsum"):
        raw("{{ lipsum(10**6) }}")
    folder = tmp_path / "_templates"
    folder.mkdir()
    (folder / "probe.zh.j2").write_text(page("{{ lipsum() }}"), encoding="utf-8")
    found = [str(p) for p in TemplateSet.from_folders([folder]).check()]
    assert any("unknown variable 'lipsum'" in p for p in found)


def test_the_globals_still_work_for_their_purpose() -> None:
    body = (
        "{% set ns = namespace(total=0) %}{% for n in range(4) %}{% set ns.total = ns.total + n %}"
        "{% endfor %}{{ ns.total }}|{% set comma = joiner(', ') %}"
        "{% for x in ['a', 'b'] %}{{ comma() }}{{ x }}{% endfor %}|"
        "{% set c = cycler('odd', 'even') %}{{ c.next() }} {{ c.next() }}|{{ dict(a=1).a }}"
    )
    assert raw(body) == "6|a, b|odd even|1"


# -- resource bombs ------------------------------------------------------------------------------

BOMBS = {
    "string repeat": ("{{ 'x' * 200000000 }}", "string length"),
    "list repeat": ("{{ [1] * 10**9 }}", "list length"),
    "power": ("{{ 2 ** 100000000 }}", "integer size"),
    "repeated squaring": (
        "{% set ns = namespace(x=2) %}{% for i in range(64) %}{% set ns.x = ns.x * ns.x %}"
        "{% endfor %}{{ ns.x }}",
        "integer size",
    ),
    "printf star width": ("{{ '%*d' % (10**9, 1) }}", "format width"),
    "printf width": ("{{ '%1000000000d' % 1 }}", "format width"),
    "format filter": ("{{ '%.999999999f' | format(1.5) }}", "format width"),
    "str.format width": ("{{ '{:>1000000000}'.format(1) }}", "format width"),
    "str.format nested width": ("{{ '{:>{w}}'.format(1, w=10**9) }}", "format width"),
    "strftime width": ("{{ '{:%999999999Y}'.format(now) }}", "format width"),
    "center filter": ("{{ 'x' | center(10**9) }}", "string length"),
    "indent filter": ("{{ ('x\n' * 1000) | indent(100000) }}", "string length"),
    "str.ljust": ("{{ 'x'.ljust(10**9) }}", "string length"),
    "str.replace": ("{{ ('x' * 100000).replace('x', 'x' * 1000) }}", "string length"),
    "replace filter": ("{{ ('x' * 100000) | replace('', 'yy') }}", "string length"),
    "join of copies": ("{{ (['x' * 100000] * 100000) | join }}", "string length"),
    "str.join of copies": ("{{ ''.join(['x' * 100000] * 100000) }}", "string length"),
    "batch fill": ("{{ [1] | batch(10**9, 0) | list }}", "list length"),
    "range": ("{% for i in range(10**9) %}{% endfor %}", "list length"),
    "huge range": ("{{ range(10**30) | length }}", "list length"),
    "for bomb": (
        "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}",
        "render time",
    ),
    "filtered for bomb": (
        "{% for a in range(100000) %}{% for b in range(100000) if b < 0 %}{% endfor %}{% endfor %}",
        "render time",
    ),
    "concatenation doubling": (
        "{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}"
        "{% endfor %}{{ ns.s | length }}",
        "string length",
    ),
    "buffered output": (
        "{% set s = 'x' * 200000 %}{% set y %}{% for i in range(100000) %}{{ s }}{% endfor %}"
        "{% endset %}{{ y | length }}",
        "render budget",
    ),
    "macro output": (
        "{% macro m(s) %}{% for i in range(100000) %}{{ s }}{% endfor %}{% endmacro %}"
        "{{ m('x' * 100000) | length }}",
        "render budget",
    ),
    "map over copies": (
        "{{ ([1] * 100000) | map('center', 200000) | list | length }}",
        "render budget",
    ),
    "output size": ("{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}", "output size"),
    "recursive macro": (
        "{% macro f(n) %}{{ f(n) }}{{ f(n) }}{% endmacro %}{{ f(1) }}",
        "recursion depth",
    ),
    "recursive loop": (
        "{% for x in [1, 2] recursive %}{{ loop([1, 2]) }}{% endfor %}",
        "recursion depth",
    ),
    "sum of lists": ("{{ ([[1] * 1000] * 1000) | sum(start=[]) }}", "security"),
}


@pytest.mark.parametrize(("body", "cap"), BOMBS.values(), ids=BOMBS.keys())
def test_resource_bombs_stop_within_the_caps(tmp_path: Path, body: str, cap: str) -> None:
    import datetime as dt

    context = {"now": dt.datetime(2026, 1, 1, tzinfo=dt.UTC)}
    for render in (raw, lambda b, c: checked(tmp_path, b, c)):
        with bounded(), pytest.raises(TemplateError) as caught:
            render(body, context)
        error = caught.value
        if cap == "security":
            assert isinstance(error, TemplateSecurityError), error
        else:
            assert isinstance(error, TemplateLimitExceeded), error
            assert error.cap == cap, error


def test_the_render_time_cap_is_kept_closely() -> None:
    started = time.perf_counter()
    with pytest.raises(TemplateLimitExceeded) as caught:
        raw("{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}")
    elapsed = time.perf_counter() - started
    assert caught.value.limit == DEFAULT_LIMITS.render_seconds
    assert DEFAULT_LIMITS.render_seconds <= elapsed < DEFAULT_LIMITS.render_seconds + 0.3


def test_the_output_cap_is_exact() -> None:
    limits = Limits(output_bytes=1000)
    assert len(raw("{{ 'x' * 1000 }}", limits=limits)) == 1000
    with pytest.raises(TemplateLimitExceeded, match="longer than 1,000 bytes"):
        raw("{{ 'x' * 1000 }}!", limits=limits)
    # Bytes, not characters: 334 Chinese characters are 1,002 bytes of UTF-8.
    with pytest.raises(TemplateLimitExceeded):
        raw("{{ '辦' * 334 }}", limits=limits)


def test_the_limits_are_named_in_the_error() -> None:
    with pytest.raises(TemplateLimitExceeded) as caught:
        raw("{{ 'x' * 200000000 }}")
    assert str(caught.value) == (
        "string length limit exceeded: `*` would build a string of 200,000,000 characters; "
        "at most 262,144 are allowed"
    )
    assert caught.value.limit == DEFAULT_LIMITS.string_length


def test_ordinary_templates_are_untouched_by_the_caps() -> None:
    body = (
        "{{ '%-6s|%5.2f' % ('ab', 3.14159) }} {{ '{:>4}'.format(7) }} {{ 'x' * 3 }} "
        "{{ [1, 2] + [3] }} {{ 2 ** 10 }} {{ 'a,b' | replace(',', ';') }} "
        "{{ ['a', 'b'] | join('-') }} {{ 'ab' | center(6) }}|{{ 'title case' | title }} "
        "{{ ('a b ' * 3).split() | length }} {{ {'b': 1, 'a': 2} | dictsort | first }}"
    )
    assert raw(body) == (
        "ab    | 3.14    7 xxx [1, 2, 3] 1024 a;b a-b   ab  |Title Case 6 ('a', 2)"
    )


def test_autoescape_blocks_escape_values_not_the_template_text() -> None:
    body = "{% autoescape true %}<b>{{ '<i>' }}</b>{% endautoescape %} {{ '<i>' }}"
    assert raw(body) == "<b>&lt;i&gt;</b> <i>"
