"""Value Representation rules (PS3.5 6.2): what a text value of each VR may hold.

One table, :data:`VRS`, holds the facts of PS3.5 Table 6.2-1 for the text VRs (length limit
and whether it counts characters or bytes, character repertoire, the control characters
allowed, whether a backslash separates values, the value format); :func:`check` applies them
to a value and returns the first :class:`Problem` (what is wrong and how to fix it) or None.
The writer checks every value it writes with it and ``validate`` checks every value it reads;
no IOD knowledge lives here (multiplicity comes from the caller, e.g. the data dictionary).

Values are checked as decoded text: lengths of the VRs that follow Specific Character Set
(LO, SH, PN, LT, ST, UC, UT) count characters, as PS3.5 6.2 says, not encoded bytes; the other
VRs hold ASCII only, where characters and bytes are the same.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

__all__ = ["VRS", "VRSpec", "Problem", "check", "check_value", "normalise_cs", "code_value_keyword", "is_urn"]

#: Largest length a value of UC, UR or UT may have (2^32 - 2 bytes).
_UNLIMITED = 2**32 - 2
_INT32 = (-(2**31), 2**31 - 1)


@dataclass(frozen=True)
class VRSpec:
    """The rules of one text VR (PS3.5 Table 6.2-1).

    ``max_length``: per value (per component group for PN), None for a fixed format checked by
    ``pattern``; ``charset``: the text may use Specific Character Set (else ASCII only);
    ``multi``: a backslash separates values (LT, ST, UT, UR hold one value: in LT / ST / UT a
    backslash is ordinary text, in UR it is not allowed); ``controls``: control characters
    allowed (ESC only inside ISO 2022 escape sequences, which decoded text no longer holds);
    ``pattern``: what one value must match, ``shape``: that pattern in words.
    """

    code: str
    title: str
    max_length: int | None
    charset: bool = False
    multi: bool = True
    controls: str = ""
    pattern: re.Pattern[str] | None = None
    shape: str = ""
    #: leading spaces are padding too (PS3.5 6.2: "leading or trailing spaces ... non-significant")
    strip_leading: bool = False


def _re(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


_TEXT_CONTROLS = "\t\n\f\r"
VRS: dict[str, VRSpec] = {
    spec.code: spec
    for spec in (
        VRSpec("AE", "Application Entity", 16, pattern=_re(r"[ -\[\]-~]*"), shape="ASCII", strip_leading=True),
        VRSpec("AS", "Age String", 4, pattern=_re(r"[0-9]{3}[DWMY]"), shape="nnnD, nnnW, nnnM or nnnY"),
        VRSpec(
            "CS",
            "Code String",
            16,
            pattern=_re(r"[A-Z0-9 _]*"),
            shape="upper-case letters A-Z, digits, space and underscore only",
            strip_leading=True,
        ),
        VRSpec("DA", "Date", 8, pattern=_re(r"[0-9]{8}"), shape="a date YYYYMMDD"),
        VRSpec(
            "DS",
            "Decimal String",
            16,
            pattern=_re(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?"),
            shape="a decimal number like -12.5 or 1.5e-3",
            strip_leading=True,
        ),
        VRSpec(
            "DT",
            "Date Time",
            26,
            pattern=_re(
                r"[0-9]{4}([0-9]{2}([0-9]{2}([0-9]{2}([0-9]{2}([0-9]{2}(\.[0-9]{1,6})?)?)?)?)?)?([+-][0-9]{4})?"
            ),
            shape="a date-time YYYYMMDDHHMMSS.FFFFFF&ZZXX",
        ),
        VRSpec(
            "IS", "Integer String", 12, pattern=_re(r"[+-]?[0-9]+"), shape="a whole number like 300", strip_leading=True
        ),
        VRSpec("LO", "Long String", 64, charset=True, strip_leading=True),
        VRSpec("LT", "Long Text", 10240, charset=True, multi=False, controls=_TEXT_CONTROLS),
        VRSpec("PN", "Person Name", 64, charset=True, strip_leading=True),
        VRSpec("SH", "Short String", 16, charset=True, strip_leading=True),
        VRSpec("ST", "Short Text", 1024, charset=True, multi=False, controls=_TEXT_CONTROLS),
        VRSpec(
            "TM",
            "Time",
            14,
            pattern=_re(r"([01][0-9]|2[0-3])([0-5][0-9]([0-5][0-9](\.[0-9]{1,6})?)?)?"),
            shape="a time HHMMSS.FFFFFF",
        ),
        VRSpec("UC", "Unlimited Characters", _UNLIMITED, charset=True),
        VRSpec(
            "UI",
            "Unique Identifier",
            64,
            pattern=_re(r"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*"),
            shape="a UID: numbers separated by dots, without leading zeros (PS3.5 9.1)",
        ),
        VRSpec(
            "UR",
            "Universal Resource Identifier",
            _UNLIMITED,
            multi=False,
            pattern=_re(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*"),
            shape="a URI (RFC 3986): no spaces, backslashes or characters beyond ASCII",
        ),
        VRSpec("UT", "Unlimited Text", _UNLIMITED, charset=True, multi=False, controls=_TEXT_CONTROLS),
    )
}

#: Control characters by name, for messages.
_CONTROL_NAMES = {"\n": "a line break (LF)", "\r": "a carriage return (CR)", "\t": "a tab", "\f": "a form feed"}
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
#: A value of a character-set VR that needs no closer look: no control character, no backslash.
_PLAIN = re.compile(r"[^\x00-\x1f\x7f-\x9f\\\ud800-\udfff]*")
#: Unpaired UTF-16 surrogates (a JSON "\ud800" decodes to one): no character, no encoding holds them.
_SURROGATE = re.compile(r"[\ud800-\udfff]")


@dataclass(frozen=True)
class Problem:
    """Why a value breaks its VR (``what``) and what to do (``fix``); ``str()`` joins them."""

    what: str
    fix: str

    def __str__(self) -> str:
        return f"{self.what}: {self.fix}"


def _text(value: Any) -> str:
    """One value as text (numbers as Python writes them, pydicom's PersonName and UID as str)."""
    original = getattr(value, "original_string", None)  # pydicom's DSfloat / IS keep the text they came from
    if isinstance(original, str):
        return original
    return value if isinstance(value, str) else str(value)


def check(vr: str, value: Any, *, vm: tuple[int, int | None] | None = (1, 1)) -> Problem | None:
    """The first way ``value`` breaks the rules of ``vr`` (None: it is valid, or ``vr`` has no text rules).

    Parameters
    ----------
    vr
        The Value Representation, e.g. ``"LO"``.
    value
        The value as written: one string (values separated by backslashes where ``vr`` allows
        several), a list of values, or numbers (IS, DS).  None and ``""`` are empty (valid here;
        whether an attribute may be empty is an IOD rule).
    vm
        The value multiplicity the attribute allows, (minimum, maximum or None for "n"); None:
        not checked.

    Returns
    -------
    Problem | None
    """
    spec = VRS.get(vr)
    if spec is None or value is None:
        return None
    if type(value) is str and (vm is None or vm[0] <= 1) and (not spec.multi or "\\" not in value):
        if spec.charset and vr != "PN" and len(value) <= (spec.max_length or 0) and _PLAIN.fullmatch(value):
            return None  # plain text of the right length: the common case, quickly
        return check_value(vr, value) if value else None  # one value: cached
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        values = [_text(v) for v in value]
        for v in values:
            if "\\" in v and spec.multi:
                return _backslash(single=False)
        if values == [""] or not values:
            return None
    else:
        text = _text(value)
        if not text:
            return None
        values = text.split("\\") if spec.multi else [text]
    if vm is not None:
        low, high = vm
        if high is not None and len(values) > high:
            return (
                _backslash(single=True)
                if high == 1
                else Problem(f"{len(values)} values, at most {high} allowed", "remove some")
            )
        if len(values) < low:
            return Problem(f"{len(values)} value(s), at least {low} needed", "add the missing values")
    for v in values:
        found = check_value(vr, v)
        if found is not None:
            return found
    return None


def _backslash(*, single: bool) -> Problem:
    one = ", and this attribute holds one value" if single else ""
    return Problem(
        f"holds a backslash (\\), which DICOM reads as a separator between values{one}",
        "remove it or use another character such as '/'",
    )


@lru_cache(maxsize=4096)
def check_value(vr: str, value: str) -> Problem | None:
    """The first way one value (no backslash-separated list) breaks the rules of ``vr``, or None.

    Parameters
    ----------
    vr
        The Value Representation.
    value
        One value as decoded text, padding included.

    Returns
    -------
    Problem | None
    """
    spec = VRS.get(vr)
    if spec is None:
        return None
    v = value.rstrip("\0 ") if vr == "UI" else value.rstrip(" ")
    if spec.strip_leading:
        v = v.lstrip(" ")
    if spec.charset and len(v) <= (spec.max_length or 0) and vr != "PN" and _PLAIN.fullmatch(v):
        return None  # the common case, quickly
    control = next((c for c in _CONTROL.findall(v) if c not in spec.controls), None)
    if control is not None:
        name = _CONTROL_NAMES.get(control, f"the control character U+{ord(control):04X}")
        where = "" if spec.controls else f" ({spec.title} {vr} allows none)"
        fix = "keep the text on one line" if control in "\r\n" else "remove it"
        return Problem(f"holds {name}{where}", fix)
    surrogate = _SURROGATE.search(v)
    if surrogate is not None:
        return Problem(f"holds U+{ord(surrogate.group()):04X}, an unpaired surrogate that is no character", "remove it")
    if not spec.charset:
        beyond = sorted({c for c in v if ord(c) > 0x7E})
        if beyond:
            chars = "".join(beyond[:8])
            return Problem(f"holds {chars!r}; a {spec.title} ({vr}) holds ASCII characters only", "remove them")
    if vr == "PN":
        return _person_name(v)
    if spec.max_length is not None and len(v) > spec.max_length:
        unit = "characters" if spec.charset else "characters (bytes)"
        return Problem(f"{len(v)} {unit}, the DICOM limit ({vr}) is {spec.max_length}", "shorten it")
    if spec.pattern is not None and not spec.pattern.fullmatch(v):
        if vr == "CS" and spec.pattern.fullmatch(v.upper()):
            return Problem(
                f"{v!r} holds lower-case letters; a Code String (CS) holds {spec.shape}", "write it in upper case"
            )
        return Problem(
            f"{v!r} is not {spec.shape}" if vr != "CS" else f"{v!r} is not a Code String (CS): {spec.shape}",
            _FIXES.get(vr, "correct it"),
        )
    if vr == "IS" and not _INT32[0] <= int(v) <= _INT32[1]:
        return Problem(f"{v} is outside the Integer String (IS) range {_INT32[0]}..{_INT32[1]}", "use a smaller number")
    if vr == "DS" and v in ("", "+", "-"):
        return Problem(f"{v!r} is not {spec.shape}", "correct it")
    if vr == "DA" and not _valid_date(v):
        return Problem(f"{v!r} is not a calendar date (DA, YYYYMMDD)", "correct it")
    if vr == "AE" and not v.strip():
        return Problem("holds only spaces", "give a name")
    return None


_FIXES = {
    "IS": "write a whole number like 300",
    "UI": "give a valid UID or leave it out",
    "CS": "remove the other characters",
}


def _valid_date(v: str) -> bool:
    try:
        _dt.date(int(v[:4]), int(v[4:6]), int(v[6:8]))
    except ValueError:
        return False
    return True


def _person_name(v: str) -> Problem | None:
    """PS3.5 6.2.1: up to three component groups (alphabetic=ideographic=phonetic), each at most
    64 characters and five components (family^given^middle^prefix^suffix)."""
    groups = v.split("=")
    if len(groups) > 3:
        return Problem(
            f"{len(groups)} component groups separated by '='; a person name (PN) has at most 3 "
            "(alphabetic=ideographic=phonetic)",
            "remove the extra '='",
        )
    for n, group in enumerate(groups, 1):
        label = "" if len(groups) == 1 else f"component group {n}: "
        if len(group) > 64:
            return Problem(
                f"{label}{len(group)} characters, the DICOM limit (PN) is 64 per component group", "shorten it"
            )
        parts = group.split("^")
        if len(parts) > 5:
            return Problem(
                f"{label}{len(parts)} name components separated by '^'; a person name (PN) has at most 5 "
                "(family^given^middle^prefix^suffix)",
                "remove the extra '^'",
            )
    return None


def normalise_cs(value: str) -> str | None:
    """A Code String written in upper case when only its case is wrong ("abdomen" -> "ABDOMEN"), else None.

    The CS repertoire (PS3.5 6.2) has no lower-case letters and the Defined Terms of the
    attributes we write (Body Part Examined ...) are upper case, so upper-casing keeps the meaning.
    """
    if check_value("CS", value) is None:
        return None
    if not value.isascii():  # "ß".upper() is "SS": only a change of case of ASCII letters keeps the value
        return None
    upper = value.upper()
    return upper if check_value("CS", upper) is None else None


def is_urn(code_value: str) -> bool:
    """Whether a code value is a URN or URL (``urn:...``, ``http://...``), which PS3.3 8.8 puts in URN Code Value."""
    v = code_value.strip()
    return v[:4].lower() == "urn:" or re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", v) is not None


@lru_cache(maxsize=4096)
def code_value_keyword(code_value: str) -> str:
    """Where a code value goes (PS3.3 Table 8.8-1a): ``CodeValue`` (SH, up to 16 characters),
    ``URNCodeValue`` (UR: a URN or URL) or ``LongCodeValue`` (UC: longer values)."""
    if is_urn(code_value):
        return "URNCodeValue"
    return "CodeValue" if len(code_value.strip(" ")) <= 16 else "LongCodeValue"


def values_of(value: Any) -> Sequence[Any]:
    """``value`` as a list of values (None and "" give none)."""
    if value is None or value == "":
        return []
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return list(value)
    return [value]
