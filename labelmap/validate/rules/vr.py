"""Every text value against its Value Representation (PS3.5 6.2), with :mod:`labelmap.dicom.vr`.

Length, character repertoire, control characters, format (UID, date, time, numbers) and value
multiplicity (PS3.6, from pydicom's dictionary) of every element, in every item; the per-frame
items only when they are read one by one (``deep``).  Text beyond ASCII in a data set that
declares no Specific Character Set is reported too.  The top-level UIDs and Content Label are
left to the general rule, which reports them in its own words.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

from pydicom.datadict import dictionary_VM
from pydicom.dataset import Dataset

from labelmap.dicom.vr import VRS
from labelmap.dicom.vr import check as check_vr
from labelmap.validate.context import SegContext
from labelmap.validate.report import Violation, keyword_of, violation

#: Reported by the general rule (labelmap.validate.rules.general), not twice.
_GENERAL = frozenset(
    (0x00700080, 0x00080018, 0x0020000D, 0x0020000E, 0x00200052)
)  # ContentLabel, SOP/Study/Series Instance UID, Frame of Reference UID
_SKIP = frozenset((0x52009230, 0x7FE00010))  # Per-frame Functional Groups (see deep), Pixel Data
_TOP_SKIP = _SKIP | _GENERAL
_CHARSET_RULE = (
    "PS3.5 6.1.2.5: characters beyond the default repertoire (ASCII) need a Specific Character Set (0008,0005)"
)


def check(ctx: SegContext) -> Iterator[Violation]:
    ds = ctx.ds
    yield from _items(ds, "", _declared(ds, False), top=True)
    for f, item in enumerate(ctx.per_frame_items or (), 1):
        if isinstance(item, Dataset):
            yield from _items(item, f"PerFrameFunctionalGroupsSequence[{f}].", _declared(ds, False), frame=f)


def _declared(ds: Dataset, inherited: bool) -> bool:
    """Whether a Specific Character Set applies to ``ds`` (its own, else the enclosing one)."""
    try:
        own = ds.get("SpecificCharacterSet", None)
    except Exception:
        return inherited
    return inherited if own is None else bool(own)


@functools.lru_cache(maxsize=4096)  # per tag, not per element: 65,535 segments repeat a few tags
def _multiplicity(tag: int) -> tuple[int, int | None] | None:
    """PS3.6 Value Multiplicity of ``tag`` as (minimum, maximum or None), None when unknown."""
    try:
        vm = dictionary_VM(tag)
    except KeyError:
        return None
    low, _, high = vm.partition("-")
    try:
        if not high:
            return int(low), int(low)
        return int(low), None if "n" in high else int(high)
    except ValueError:  # e.g. "2-2n"
        return None


def _items(
    ds: Dataset, path: str, charset: bool, *, top: bool = False, frame: int | None = None
) -> Iterator[Violation]:
    charset = _declared(ds, charset)
    for tag in [int(t) for t in ds.keys()]:
        if top and tag in _TOP_SKIP:
            continue
        try:
            elem = ds[tag]
            vr, value = str(elem.VR), elem.value
        except Exception:  # pydicom cannot decode it as its VR (e.g. IS "abc"): say so
            raw = ds.get_item(tag, keep_deferred=True)  # an empty value must not be re-read (and re-raise)
            vr = str(getattr(raw, "VR", "") or "")
            if vr in VRS:
                shown = bytes(getattr(raw, "value", b"") or b"")[:40]
                yield _violation(tag, path, vr, f"value {shown!r} cannot be read as {VRS[vr].title} ({vr})", frame)
            continue
        if vr == "SQ":
            keyword = keyword_of(tag)
            for i, item in enumerate(value or (), 1):
                if isinstance(item, Dataset):
                    yield from _items(item, f"{path}{keyword}[{i}].", charset, frame=frame)
            continue
        spec = VRS.get(vr)
        if spec is None or value is None:
            continue
        problem = check_vr(vr, value, vm=_multiplicity(tag))
        if problem is not None:
            yield _violation(tag, path, vr, problem.what, frame)
        elif spec.charset and not charset and not all(str(v).isascii() for v in _as_list(value)):
            yield violation(
                keyword_of(tag),
                "holds characters beyond ASCII, but no Specific Character Set is declared",
                _CHARSET_RULE,
                path=f"{path}{keyword_of(tag)}",
                frame=frame,
            )


def _as_list(value) -> list:
    return list(value) if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue" else [value]


def _violation(tag: int, path: str, vr: str, what: str, frame: int | None) -> Violation:
    keyword = keyword_of(tag)
    return violation(
        keyword, what, f"PS3.5 6.2 Value Representation {vr} ({VRS[vr].title})", path=f"{path}{keyword}", frame=frame
    )
