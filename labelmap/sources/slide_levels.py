"""One pyramid level from its instances: a single file, or the parts of a Concatenation joined.

A level split over several instances shares a Concatenation UID; it is read as one level when
it is *simple*: every part present (In-concatenation Number 1..Total), one geometry and Frame of
Reference, and frame offsets that follow each other.  Anything else is refused in one line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from labelmap.errors import DicomSeriesError, UnsupportedError
from labelmap.model import SlideGeometry
from labelmap.sources.slide_headers import Sniffed, instance_geometry

__all__ = ["Instance", "Level", "merge_level"]


def _text(ds: Any, keyword: str) -> str:
    try:
        value = ds.get(keyword)
    except Exception:  # an undecodable value reads as absent
        return ""
    return "" if value is None else str(value).strip(" \x00")


def _int(ds: Any, keyword: str) -> int | None:
    try:
        value = ds.get(keyword)
        return None if value is None or value == "" else int(value)
    except Exception:  # an undecodable value reads as absent
        return None


@dataclass(frozen=True, eq=False)
class Instance:
    """A whole-slide file of the chosen series: what its first bytes said, and its pydicom header."""

    sniffed: Sniffed
    dataset: Any

    @property
    def path(self) -> str:
        return self.sniffed.path

    @property
    def pyramid_uid(self) -> str:
        return _text(self.dataset, "PyramidUID")

    @property
    def concatenation_uid(self) -> str:
        return _text(self.dataset, "ConcatenationUID")


@dataclass(frozen=True, eq=False)
class Level:
    """A level before it gets its index: geometry, header and the instances it is stored in."""

    geometry: SlideGeometry
    dataset: Any
    path: str
    sop_instance_uid: str
    number_of_frames: int
    dimension_organization_type: str | None
    concatenation_uid: str | None
    parts: tuple[tuple[str, str, int, int], ...]
    instance_number: int

    @property
    def frame_of_reference_uid(self) -> str:
        return _text(self.dataset, "FrameOfReferenceUID")

    @property
    def container_identifier(self) -> str:
        return _text(self.dataset, "ContainerIdentifier")


def _checked(instance: Instance, notes: list[str]) -> tuple[SlideGeometry, int]:
    """Geometry and frame count of one instance; several focal planes refused."""
    geometry, planes = instance_geometry(instance.dataset, instance.path)
    if planes > 1:
        raise UnsupportedError(
            f"Total Pixel Matrix Focal Planes is {planes}: slides scanned in several focal planes (Z stacks) are not "
            "supported, as viewers show one plane; give a single-plane (or extended depth of field) export",
            path=instance.path,
            keyword="TotalPixelMatrixFocalPlanes",
            tag=0x00480303,
        )
    if instance.sniffed.damage is not None:
        notes.append(f"{instance.path!r}: {instance.sniffed.damage}; only its header is used")
    frames = _int(instance.dataset, "NumberOfFrames")
    return geometry, 1 if frames is None else frames


def merge_level(members: list[Instance], notes: list[str]) -> Level:
    """The level ``members`` store: one instance, or the parts of one Concatenation.

    Raises
    ------
    DicomSeriesError
        A level header that declares no usable geometry, or a Concatenation that is not simple
        (missing or repeated parts, parts whose geometry differs, frame offsets that do not follow).
    UnsupportedError
        Several focal planes.
    """
    checked = [(m, *_checked(m, notes)) for m in members]
    first, geometry, frames = checked[0]
    organization = _text(first.dataset, "DimensionOrganizationType").upper() or None
    number = _int(first.dataset, "InstanceNumber")
    order = number if number is not None else 2**31
    if len(members) == 1 and not first.concatenation_uid:
        return Level(
            geometry, first.dataset, first.path, first.sniffed.sop_instance_uid, frames, organization, None, (), order
        )
    return _concatenation(checked, notes)


def _refuse(uid: str, what: str, path: str | None = None) -> DicomSeriesError:
    return DicomSeriesError(
        f"the level stored as Concatenation {uid} cannot be read as one level: {what}; give every part of it, or "
        "re-export the slide without concatenations",
        path=path,
        keyword="ConcatenationUID",
        tag=0x00209161,
    )


def _concatenation(checked: list[tuple[Instance, SlideGeometry, int]], notes: list[str]) -> Level:
    uid = checked[0][0].concatenation_uid
    numbered = []
    for instance, geometry, frames in checked:
        number = _int(instance.dataset, "InConcatenationNumber")
        if number is None or number < 1:
            raise _refuse(uid, "a part has no valid In-concatenation Number", instance.path)
        numbered.append((number, instance, geometry, frames))
    numbered.sort(key=lambda t: t[0])
    numbers = [n for n, *_ in numbered]
    if len(set(numbers)) != len(numbers):
        raise _refuse(uid, f"In-concatenation Numbers repeat ({numbers}): two copies of one part?")
    totals = {t for _, i, _, _ in numbered if (t := _int(i.dataset, "InConcatenationTotalNumber")) is not None}
    total = max(totals) if totals else len(numbered)
    if len(totals) > 1:
        raise _refuse(uid, f"the parts disagree on In-concatenation Total Number ({sorted(totals)})")
    missing = sorted(set(range(1, total + 1)) - set(numbers))
    if missing or numbers[-1] > total:
        raise _refuse(uid, f"{len(numbered)} of {total} parts found (missing part(s) {missing or numbers[-1]})")
    _, head, geometry, _ = numbered[0]
    offset = 0
    parts = []
    for number, instance, g, frames in numbered:
        if g != geometry:
            raise _refuse(uid, f"part {number} declares another geometry than part 1", instance.path)
        if _text(instance.dataset, "FrameOfReferenceUID") != _text(head.dataset, "FrameOfReferenceUID"):
            raise _refuse(uid, f"part {number} has another Frame of Reference than part 1", instance.path)
        first_frame = _int(instance.dataset, "ConcatenationFrameOffsetNumber")
        if first_frame != offset:
            raise _refuse(
                uid,
                f"part {number} starts at frame offset {first_frame} where {offset} follows the parts before it",
                instance.path,
            )
        parts.append((instance.path, instance.sniffed.sop_instance_uid, offset, frames))
        offset += frames
    organization = _text(head.dataset, "DimensionOrganizationType").upper() or None
    number = _int(head.dataset, "InstanceNumber")
    notes.append(f"level {geometry.rows} x {geometry.columns} is a Concatenation of {total} instances, read as one")
    return Level(
        geometry,
        head.dataset,
        head.path,
        head.sniffed.sop_instance_uid,
        offset,
        organization,
        uid,
        tuple(parts),
        number if number is not None else 2**31,
    )
