"""The documentation's promises, checked on the files: docs/configuration.md documents every
configuration key of every command exactly once (and no key that does not exist), README.md is
a short front door holding the two commands verbatim, every relative link in README.md and
docs/*.md resolves, and every docs page is reachable from README.md. No Ray."""

from __future__ import annotations

import re
from collections import Counter
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
CONFIGURATION = DOCS / "configuration.md"
MAX_README_LINES = 250

COMMANDS = """```bash
# 1. install and run the whole pipeline on the embedded synthetic dataset (in this process; large data on Ray)
python -m pip install -e '.[dev]' && distml run

# 2. install and run the tests
python -m pip install -e '.[dev]' && python -m pytest
```"""
"""The README's two commands, a contract (.ci/run runs the second)."""

FENCE = re.compile(r"^```.*?^```[ \t]*$", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"\[[^\]\n]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
ROW_KEY = re.compile(r"^\|\s*`([^`]+)`\s*\|")


def _flatten(node, prefix: str = "") -> set[str]:
    """Dotted keys of a composed config, descending into nodes typed by a dataclass only: a
    mapping-valued key (quality.rules, model.params, ...) or a list is one key."""
    from omegaconf import DictConfig

    keys = set()
    for k in node:
        child = node._get_node(k)
        if isinstance(child, DictConfig) and child._metadata.object_type not in (None, dict):
            keys |= _flatten(child, f"{prefix}{k}.")
        else:
            keys.add(f"{prefix}{k}")
    return keys


def commands() -> list[str]:
    """Every command: each has its primary config conf/<command>.yaml."""
    from distml.config import conf_dir

    return sorted(p.stem for p in Path(conf_dir()).glob("*.yaml"))


@cache
def config_keys() -> dict[str, frozenset[str]]:
    """Each command's keys, from its config composed as ``distml <command>`` composes it."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from distml.config import conf_dir, register_configs

    register_configs()
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
            return {cmd: frozenset(_flatten(compose(config_name=cmd))) for cmd in commands()}
    finally:
        GlobalHydra.instance().clear()


def _values(node, prefix: str = "") -> dict[str, object]:
    """Each key's default as written in the composed config (as ``_flatten`` descends; a
    mapping or list is "COMPLEX", an interpolation stays its text)."""
    from omegaconf import DictConfig, ListConfig

    out: dict[str, object] = {}
    for k in node:
        child = node._get_node(k)
        if isinstance(child, DictConfig) and child._metadata.object_type not in (None, dict):
            out |= _values(child, f"{prefix}{k}.")
        else:
            out[f"{prefix}{k}"] = (
                "COMPLEX" if isinstance(child, DictConfig | ListConfig) else child._value()
            )
    return out


@cache
def config_defaults() -> dict[str, list[object]]:
    """Every key's defaults over the commands (a key may differ between commands)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from distml.config import conf_dir, register_configs

    register_configs()
    GlobalHydra.instance().clear()
    out: dict[str, list[object]] = {}
    try:
        with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
            for cmd in commands():
                for k, v in _values(compose(config_name=cmd)).items():
                    out.setdefault(k, []).append(v)
    finally:
        GlobalHydra.instance().clear()
    return out


UNITS = {"KiB": 2**10, "MiB": 2**20, "GiB": 2**30}


def documented_default(cell: str) -> object:
    """A default cell read as a value: `null`, `true`, numbers with thousands commas or a binary
    unit, else the text before any explanation in brackets."""
    text = re.split(r" \(|; ", cell.replace("`", "").strip())[0].strip().replace(",", "")
    if text in ("null", "true", "false"):
        return None if text == "null" else text == "true"
    number, _, unit = text.partition(" ")
    for kind in (int, float):
        try:
            return kind(number) * UNITS[unit] if unit in UNITS else kind(text)
        except ValueError:
            pass
    return text


def documented_rows(text: str) -> list[str]:
    """The key of every table row whose first cell is one code span: `| `key` | ... |`."""
    return [m.group(1) for line in text.splitlines() if (m := ROW_KEY.match(line))]


def _cells(line: str) -> list[str]:
    return [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


def _prose(text: str) -> str:
    """The text outside code blocks and code spans (where brackets are not links)."""
    return INLINE_CODE.sub("", FENCE.sub("", text))


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "")
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    return {_slug(h) for h in HEADING.findall(FENCE.sub("", path.read_text()))}


def links(path: Path) -> list[tuple[str, Path, str]]:
    """(link as written, file it names, anchor) for every relative link in a Markdown file."""
    out = []
    for target in LINK.findall(_prose(path.read_text())):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:, ...
            continue
        file, _, anchor = target.partition("#")
        out.append((target, (path.parent / file).resolve() if file else path, anchor))
    return out


def pages() -> list[Path]:
    return sorted(DOCS.glob("*.md"))


def test_every_command_has_keys():
    keys = config_keys()
    assert {"run", "predict", "serve", "ingest", "promote", "rollback"} <= set(keys)
    assert "quality.gates.min_rows" in keys["run"] and "serve.autoscaling.enabled" in keys["serve"]
    assert "quality.rules" in keys["run"] and "quality.rules.column" not in keys["run"]
    assert "model.params" in keys["run"] and "model.params.objective" not in keys["run"]


def test_every_documented_default_is_the_configs():
    """The default column says what the composed configs hold (scalars; mappings, lists and
    interpolations are described, not compared)."""
    defaults = config_defaults()
    checked, wrong = 0, []
    for line in CONFIGURATION.read_text().splitlines():
        if not (m := ROW_KEY.match(line)) or m.group(1) not in defaults:
            continue
        values = defaults[m.group(1)]
        if any(v == "COMPLEX" or (isinstance(v, str) and "${" in v) for v in values):
            continue
        checked += 1
        if documented_default(_cells(line)[1]) not in values:
            wrong.append(f"{m.group(1)}: documented {_cells(line)[1]!r}, configs hold {values}")
    assert wrong == []
    assert checked > 140  # most keys are scalars: the comparison is not vacuous


def test_every_key_is_documented_exactly_once():
    every = set().union(*config_keys().values())
    rows = documented_rows(CONFIGURATION.read_text())
    twice = sorted(k for k, n in Counter(rows).items() if n > 1)
    assert twice == [], f"keys documented more than once in docs/configuration.md: {twice}"
    missing = sorted(every - set(rows))
    assert missing == [], f"keys missing from docs/configuration.md: {missing}"
    unknown = sorted(set(rows) - every)
    assert unknown == [], f"docs/configuration.md documents keys no command has: {unknown}"


def test_key_rows_have_a_default_and_a_meaning():
    bad = [
        line
        for line in CONFIGURATION.read_text().splitlines()
        if ROW_KEY.match(line) and (len(_cells(line)) != 3 or not all(_cells(line)))
    ]
    assert bad == []


def test_the_key_check_catches_a_missing_row_and_a_fake_key():
    text = CONFIGURATION.read_text()
    every = set().union(*config_keys().values())
    row = next(line for line in text.splitlines() if line.startswith("| `sampling.size` |"))
    without = documented_rows(text.replace(row + "\n", ""))
    assert "sampling.size" in every - set(without)
    fake = documented_rows(text + "\n| `sampling.sise` | null | a typo |\n")
    assert "sampling.sise" in set(fake) - every


def test_readme_is_a_front_door_with_the_two_commands():
    text = README.read_text()
    assert len(text.splitlines()) <= MAX_README_LINES
    assert COMMANDS in text


@pytest.mark.parametrize("path", [README, *pages()], ids=lambda p: p.name)
def test_relative_links_resolve(path: Path):
    broken = [
        target
        for target, file, anchor in links(path)
        if not file.exists() or (anchor and file.suffix == ".md" and anchor not in _anchors(file))
    ]
    assert broken == [], f"{path.name}: links to nothing: {broken}"


def test_every_docs_page_is_linked_from_the_readme():
    linked = {file for _, file, _ in links(README)}
    assert pages(), "docs/ has no pages"
    unlinked = [p.name for p in pages() if p.resolve() not in linked]
    assert unlinked == []
