"""What a validation reports: :class:`Violation`, :class:`SegValidation` and how findings are worded."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Severity = Literal["error", "warning"]


#: C0 / C1 control characters and DEL, written as escapes in report lines.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class Violation:
    """One broken rule: the attribute (keyword and tag), where it is, what was found, the rule.

    ``path`` locates the attribute, e.g. ``SegmentSequence[3].SegmentAlgorithmName`` (items
    counted from 1); ``frame`` (1-based) and ``segment`` (a Segment Number) are set when the
    violation concerns one frame or segment (for several frames: the first of them).
    """

    keyword: str
    tag: str | None
    message: str
    rule: str
    severity: Severity = "error"
    path: str = ""
    frame: int | None = None
    segment: int | None = None

    def format(self, name: str) -> str:
        """One line: ``<name>: <severity>: <tag> <path>: <message> — <rule>``."""
        tag = f"{self.tag} " if self.tag else ""
        line = f"{name}: {self.severity}: {tag}{self.path or self.keyword}: {self.message} — {self.rule}"
        # a value quoted from the file stays on this line and cannot drive the terminal
        return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), line)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class SegValidation:
    """Result of :func:`~labelmap.validate.check_seg`: the violations plus what was checked."""

    name: str
    segmentation_type: str | None = None
    frames: int | None = None
    per_frame_items_checked: bool = False
    violations: list[Violation] = field(default_factory=list)

    @property
    def errors(self) -> list[Violation]:
        return [v for v in self.violations if v.severity == "error"]

    @property
    def warnings(self) -> list[Violation]:
        return [v for v in self.violations if v.severity == "warning"]


def violation(
    keyword: str,
    message: str,
    rule: str,
    severity: Severity = "error",
    *,
    path: str = "",
    item: str = "",
    frame: int | None = None,
    segment: int | None = None,
) -> Violation:
    """A :class:`Violation` of ``keyword`` (tag looked up) at ``path``, else at ``item``.keyword, else at keyword."""
    path = path or (f"{item}.{keyword}" if item else keyword)
    return Violation(keyword, tag_text(keyword), message, rule, severity, path, frame, segment)


def mismatch(keyword: str, found: Any, expected: Any, rule: str, note: str = "") -> Iterator[Violation]:
    """``<keyword> is <found>, expected <expected><note>`` when both are known (not None or "") and differ."""
    if found not in (None, "") and expected is not None and found != expected:
        yield violation(keyword, f"is {found}, expected {expected}{note}", rule)


def tag_text(keyword_or_tag: str | int) -> str | None:
    """``(gggg,eeee)`` of a keyword or tag (None for an unknown keyword)."""
    from pydicom.datadict import tag_for_keyword

    tag = keyword_or_tag if isinstance(keyword_or_tag, int) else tag_for_keyword(keyword_or_tag)
    return None if tag is None else f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def keyword_of(tag: int) -> str:
    from pydicom.datadict import keyword_for_tag

    return keyword_for_tag(tag) or tag_text(tag) or hex(tag)


def frames_text(frames: Iterable[Any], limit: int = 5) -> str:
    """``frames 1, 2, 3 and 4 more``: 1-based frame numbers, the first ``limit`` of them."""
    numbers = sorted(set(int(f) for f in frames))
    head = ", ".join(str(f) for f in numbers[:limit])
    more = f" and {len(numbers) - limit} more" if len(numbers) > limit else ""
    return f"frame{'s' if len(numbers) > 1 else ''} {head}{more}"


def values_text(values: Iterable[Any], limit: int = 10) -> str:
    values = list(values)
    head = ", ".join(str(v) for v in values[:limit])
    return head + (f" ... ({len(values)} in all)" if len(values) > limit else "")


def uid_name(uid: str) -> str:
    """``uid (its name)`` when pydicom knows the UID."""
    from pydicom.uid import UID

    name = UID(uid).name
    return f"{uid} ({name})" if name and name != uid else uid
