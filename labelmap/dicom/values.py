"""Checked access to the top-level attributes of a data set, for the readers.

A damaged file can hold any bytes where a number or a sequence is expected: a VR changed
to another one, a value that does not decode, several values where one is allowed.  The
readers first call :func:`check_header`, which decodes every top-level element once (the
per-frame groups and Pixel Data are parsed elsewhere) and checks that the attributes the
readers use have the kind of value they expect; then :func:`int_value` reads the integer
attributes.  Both raise :class:`~labelmap.errors.DicomFormatError` naming the file and the
attribute (and the item it is in), never a ``TypeError`` or a pydicom exception from
wherever the value is first used.

Works on a :class:`labelmap.dicom.read.LiteDataset` and on a pydicom ``Dataset`` alike.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import Any

from labelmap.dicom.dictionary import (
    BYTES_VRS,
    EXTENDED_OFFSET_TABLES,
    KEYWORD_OF,
    KEYWORDS,
    MAX_DEPTH,
    NUMBER_CODES,
    PER_FRAME_GROUPS,
    PIXEL_DATA,
    describe_tag,
)
from labelmap.dicom.read import LiteDataset, NeedsPydicom
from labelmap.errors import DicomFormatError

__all__ = ["check_header", "int_value", "quiet_pydicom"]

_SKIP = frozenset((PER_FRAME_GROUPS, PIXEL_DATA)) | EXTENDED_OFFSET_TABLES
_NUMBER_VRS = frozenset(NUMBER_CODES) | {"IS", "DS", "AT"}

_MISSING = object()
_VR_SETS: dict[str, frozenset[str]] = {}
# the VR each known tag must have (KEYWORDS by tag), looked up once per element
_EXPECTED_VR = {tag: KEYWORDS[keyword][1] for tag, keyword in KEYWORD_OF.items() if keyword in KEYWORDS}


@contextlib.contextmanager
def quiet_pydicom() -> Iterator[None]:
    """Silence pydicom's warnings while a file is read.

    pydicom warns (on stderr, one or two lines each) about every odd value of a damaged file;
    the readers report what matters to a conversion as one :class:`DicomFormatError` instead.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=r"pydicom(\.|$)")
        warnings.filterwarnings("ignore", category=UserWarning)
        yield


def _values(value: Any) -> list:
    if value is None:
        return []
    if isinstance(value, (str, bytes, bytearray, int, float)):
        return [value]
    try:
        return list(value)
    except TypeError:
        return [value]


def _kind_problem(vr: str, value: Any, expected: str) -> str | None:
    """Why ``value`` (of VR ``vr``) cannot stand for an attribute of VR ``expected``, or None."""
    vrs = _VR_SETS.get(vr)
    if vrs is None:  # pydicom keeps ambiguous VRs ("US or SS") in data sets built in memory
        vrs = _VR_SETS[vr] = frozenset(vr.split(" or "))
    if expected == "SQ":
        if "SQ" not in vrs or (not isinstance(value, list) and type(value).__name__ != "Sequence"):
            return f"has VR {vr}, expected a sequence (SQ)"
        return None
    if expected in _NUMBER_VRS:
        if not vrs & (_NUMBER_VRS | {"UN"}):
            return f"has VR {vr}, expected {expected}"
        for v in _values(value):
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                return f"value {value!r:.60} is not a number"
        return None
    if expected in BYTES_VRS:
        if value is not None and not isinstance(value, (bytes, bytearray)):
            return f"has VR {vr}, expected {expected}"
        return None
    # text: a string or strings (pydicom's PersonName and UID are str-like)
    for v in _values(value):
        if not isinstance(v, str) and type(v).__name__ != "PersonName":
            return f"has VR {vr}, expected {expected} (text)"
    return None


def check_header(ds: Any, name: str, *, per_frame: bool = False) -> None:
    """Decode every top-level element (sequences included) and check the kinds of known attributes.

    Pixel Data and the Extended Offset Table are skipped, and so are the Per-frame Functional
    Groups unless ``per_frame`` (a pydicom Dataset: the bulk reader parses and checks those of
    a file itself).
    """
    _check(ds, name, "", 0, _SKIP - {PER_FRAME_GROUPS} if per_frame else _SKIP)


def _check(ds: Any, name: str, where: str, depth: int, skip: frozenset = frozenset()) -> None:
    if depth > MAX_DEPTH:
        raise DicomFormatError(f"{name}: sequences nested deeper than {MAX_DEPTH} levels{where}")
    lite = isinstance(ds, LiteDataset)
    try:
        tags = sorted(ds._elements) if lite else [int(t) for t in ds.keys()]
    except Exception as exc:  # pydicom parses raw sequence items here: any damage shows up as any type
        raise DicomFormatError(f"{name}: data set{where} cannot be parsed ({type(exc).__name__}: {exc})") from None
    for tag in tags:
        if depth == 0 and tag in skip:
            continue
        try:
            element = ds._elements[tag] if lite else ds[tag]
            value = element.value
            vr = str(element.VR)
        except NeedsPydicom as exc:
            raise DicomFormatError(f"{name}: attribute {describe_tag(tag)}{where} cannot be decoded: {exc}") from None
        except Exception as exc:  # pydicom converts the raw value here and raises many types on damage
            raise DicomFormatError(
                f"{name}: attribute {describe_tag(tag)}{where} cannot be decoded ({type(exc).__name__}: {exc})"
            ) from None
        expected = _EXPECTED_VR.get(tag)
        if expected is not None:
            problem = _kind_problem(vr, value, expected)
            if problem:
                raise DicomFormatError(f"{name}: attribute {describe_tag(tag)}{where} {problem}")
        if vr == "SQ" and value is not None:
            keyword = KEYWORD_OF.get(tag) or describe_tag(tag)
            for i, item in enumerate(value):
                _check(item, name, f" in item {i + 1} of {keyword}{where}", depth + 1)


def int_value(
    ds: Any,
    keyword: str,
    name: str,
    *,
    where: str = "",
    default: Any = _MISSING,
    minimum: int | None = None,
    maximum: int | None = None,
) -> Any:
    """The single integer value of ``keyword``; ``default`` when absent or empty (else an error).

    The value must be one integer (an integral DS / IS text is accepted) within
    ``minimum``..``maximum``; anything else is a :class:`DicomFormatError` naming ``keyword``.
    """
    label = (describe_tag(KEYWORDS[keyword][0]) if keyword in KEYWORDS else keyword) + where
    try:
        value = ds.get(keyword, None)
    except NeedsPydicom as exc:
        raise DicomFormatError(f"{name}: attribute {label} cannot be decoded: {exc}") from None
    values = _values(value)
    if isinstance(value, (str, bytes)) and not value.strip():
        values = []
    if not values:
        if default is _MISSING:
            raise DicomFormatError(f"{name}: missing or empty attribute {label}")
        return default
    if len(values) != 1:
        raise DicomFormatError(f"{name}: attribute {label} has {len(values)} values, expected 1")
    v = values[0]
    try:
        if isinstance(v, bool):
            raise ValueError
        if isinstance(v, (bytes, bytearray)):
            v = v.decode("latin-1")
        number = float(v) if isinstance(v, str) else v
        if not isinstance(number, (int, float)) or number != int(number):
            raise ValueError
        result = int(number)
    except (TypeError, ValueError, OverflowError):
        raise DicomFormatError(f"{name}: attribute {label} value {value!r:.60} is not an integer") from None
    if (minimum is not None and result < minimum) or (maximum is not None and result > maximum):
        expected = f"at least {minimum}" if maximum is None else f"at most {maximum}"
        if minimum is not None and maximum is not None:
            expected = f"{minimum}..{maximum}"
        raise DicomFormatError(f"{name}: attribute {label} is {result}, expected {expected}")
    return result
