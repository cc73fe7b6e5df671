"""Inline suppressions and the baseline file.

``# migguard: ignore[rule-id]`` on the reported line, or alone on the line directly above,
silences that rule there (several ids separated by commas; ``ignore[*]`` or a bare
``# migguard: ignore`` silences every rule); ``# migguard: ignore-file[rule-id]`` anywhere in
a file silences the rule for the whole file. Like ruff's checked ``noqa``, a suppression that
names a rule id migguard does not know is itself reported (``unknown-suppression``), so a typo
cannot silently keep a finding alive or hide a real one.

The baseline records the findings a project accepts today, by fingerprint (rule, path,
revision and message, never the line), so that only new findings fail the run.
"""

from __future__ import annotations

import io
import json
import re
import tokenize
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from migguard import rules
from migguard.checks.suppression import UNKNOWN_SUPPRESSION
from migguard.errors import MigguardError
from migguard.findings import Finding

BASELINE_VERSION = 1

_DIRECTIVE = re.compile(r"#\s*migguard:\s*(ignore-file|ignore)(?![\w-])(?:\[([^\]]*)\])?")
_ALL = "*"


@dataclass(frozen=True)
class Suppression:
    """One ``# migguard: ignore...`` comment. ``rules`` is None when it covers every rule."""

    line: int
    rules: frozenset[str] | None
    file_level: bool
    standalone: bool

    def covers(self, rule_id: str) -> bool:
        return self.rules is None or rule_id in self.rules


def parse_suppressions(source: str, *, python: bool = True) -> list[Suppression]:
    """Every suppression comment in a Python (or other ``#``-commented) source, in line order.

    In Python, comments are found with ``tokenize`` so that the text inside a string literal
    is not mistaken for one; other files, and Python that does not tokenize, are scanned line
    by line.
    """
    comments = _comments(source) if python else _line_comments(source)
    lines = source.splitlines()
    found: list[Suppression] = []
    for line_number, text in comments:
        for match in _DIRECTIVE.finditer(text):
            kind, listed = match.group(1), match.group(2)
            ids = [part.strip() for part in (listed or "").split(",") if part.strip()]
            rules = None if not ids or _ALL in ids else frozenset(ids)
            code = lines[line_number - 1] if line_number <= len(lines) else ""
            found.append(
                Suppression(
                    line=line_number,
                    rules=rules,
                    file_level=kind == "ignore-file",
                    standalone=code.lstrip().startswith("#"),
                )
            )
    return found


def _comments(source: str) -> list[tuple[int, str]]:
    if "migguard" not in source:
        return []
    try:
        return [
            (token.start[0], token.string)
            for token in tokenize.generate_tokens(io.StringIO(source).readline)
            if token.type == tokenize.COMMENT and "migguard" in token.string
        ]
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return _line_comments(source)


def _line_comments(source: str) -> list[tuple[int, str]]:
    return [
        (number, text[text.index("#") :])
        for number, text in enumerate(source.splitlines(), start=1)
        if "#" in text and "migguard" in text
    ]


def unknown_rule_ids(suppression: Suppression) -> list[str]:
    """Ids the comment names that no registered rule has."""
    if suppression.rules is None:
        return []
    known = rules.load()
    return sorted(r for r in suppression.rules if r not in known)


def is_suppressed(finding: Finding, suppressions: Iterable[Suppression]) -> bool:
    """Whether a finding is covered by a file-level comment, a comment on its line, or a
    comment alone on the line directly above."""
    for suppression in suppressions:
        if not suppression.covers(finding.rule):
            continue
        if suppression.file_level:
            return True
        if finding.line is None:
            continue
        if suppression.line == finding.line:
            return True
        if suppression.line == finding.line - 1 and suppression.standalone:
            return True
    return False


def apply_suppressions(
    findings: list[Finding], root: Path, *, scan: Iterable[str] = ()
) -> tuple[list[Finding], list[Finding]]:
    """(kept findings, suppression problems) for findings whose paths are relative to ``root``.

    Each file is read once. Besides the files findings point at, the root-relative paths in
    ``scan`` (say, every revision file) are checked for comments naming unknown rule ids.
    """
    cache: dict[str, list[Suppression]] = {}

    def suppressions_in(relpath: str) -> list[Suppression]:
        if relpath not in cache:
            cache[relpath] = _read_suppressions(root / relpath)
        return cache[relpath]

    kept = [
        finding
        for finding in findings
        if finding.path is None or not is_suppressed(finding, suppressions_in(finding.path))
    ]
    for relpath in scan:
        suppressions_in(relpath)
    problems: list[Finding] = []
    for relpath in sorted(cache):
        for suppression in cache[relpath]:
            for rule_id in unknown_rule_ids(suppression):
                problems.append(
                    Finding(
                        rule=UNKNOWN_SUPPRESSION.id,
                        message=rules.unknown_id_message(rule_id, "a migguard suppression comment"),
                        path=relpath,
                        line=suppression.line,
                        hint="`migguard rules` lists the rule ids; fix the spelling or drop it",
                    )
                )
    return kept, problems


def _read_suppressions(path: Path) -> list[Suppression]:
    try:
        source = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return parse_suppressions(source, python=path.suffix == ".py")


# --- baseline -------------------------------------------------------------------------------


def write_baseline(findings: Iterable[Finding], path: Path) -> None:
    """Record the findings as accepted: stable order, one entry per finding, pretty JSON."""
    entries = sorted(
        (
            {
                "rule": finding.rule,
                "path": finding.path,
                "fingerprint": finding.fingerprint,
                "message": finding.message,
            }
            for finding in findings
        ),
        key=lambda e: (e["path"] or "", e["rule"], e["fingerprint"], e["message"]),
    )
    document = {"version": BASELINE_VERSION, "entries": entries}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise MigguardError(f"cannot write baseline {path}: {exc.strerror}") from exc


def read_baseline(path: Path) -> Counter[tuple[str, str | None, str]]:
    """The (rule, path, fingerprint) entries of a baseline file, counted."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MigguardError(
            f"baseline file not found: {path} (create it with `migguard baseline PROJECT -o "
            f"{path}`)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MigguardError(f"cannot read baseline {path}: {exc}") from exc
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MigguardError(
            f"baseline {path} is not valid JSON (line {exc.lineno}: {exc.msg}); regenerate "
            "it with `migguard baseline`"
        ) from None
    if not isinstance(document, dict) or not isinstance(document.get("entries"), list):
        raise MigguardError(f"baseline {path} has no 'entries' list; regenerate it")
    if document.get("version") != BASELINE_VERSION:
        raise MigguardError(
            f"baseline {path} has version {document.get('version')!r}, expected "
            f"{BASELINE_VERSION}; regenerate it with `migguard baseline`"
        )
    known = rules.load()
    counted: Counter[tuple[str, str | None, str]] = Counter()
    for number, entry in enumerate(document["entries"], start=1):
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("rule"), str)
            or not isinstance(entry.get("fingerprint"), str)
            or not isinstance(entry.get("path"), str | type(None))
        ):
            raise MigguardError(
                f"baseline {path}: entry {number} needs 'rule', 'path' and 'fingerprint'"
            )
        if entry["rule"] not in known:  # a hand edit, or a rule this version no longer has
            where = f"baseline {path} (entry {number})"
            raise MigguardError(
                f"{rules.unknown_id_message(entry['rule'], where)} Regenerate it with "
                "`migguard baseline`."
            )
        counted[(entry["rule"], entry["path"], entry["fingerprint"])] += 1
    return counted


def apply_baseline(findings: Iterable[Finding], path: Path) -> list[Finding]:
    """The findings the baseline does not account for. Each entry absorbs one finding."""
    remaining = read_baseline(path)
    kept = []
    for finding in findings:
        key = (finding.rule, finding.path, finding.fingerprint)
        if remaining[key] > 0:
            remaining[key] -= 1
        else:
            kept.append(finding)
    return kept
