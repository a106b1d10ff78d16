"""Slide sources: the pyramid levels of a VL Whole Slide Microscopy image, read from headers only.

:func:`load_slide` scans files and folders (recursively), keeps the VL Whole Slide Microscopy
Image files, ignores label / overview / thumbnail images (with a note) and everything that is
not a slide, picks one series (``series_uid``) and one pyramid (``pyramid_uid``) when there
are several, and returns the VOLUME levels largest first, each with the geometry its header
declares (:class:`~labelmap.model.SlideGeometry`).  A level split over a Concatenation is one
level.  :func:`is_slide_source` is the cheap sniff the command line uses to tell a slide
source from a volume series.  Pixels are never read, and sizes are only numbers: a Total
Pixel Matrix of 2^32-1 pixels a side costs nothing.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from labelmap.errors import DicomSeriesError, InputError
from labelmap.model import SlideGeometry
from labelmap.sources.files import find_files
from labelmap.sources.slide_headers import NOT_LEVELS, Sniffed, read_wsi_header, sniff_file
from labelmap.sources.slide_levels import Instance, Level, merge_level
from labelmap.sources.slide_sniff import WSI_SOP_CLASS, is_slide_source

__all__ = ["WSI_SOP_CLASS", "SlideLevel", "SlidePart", "SlideSource", "is_slide_source", "load_slide"]


@dataclass(frozen=True)
class SlidePart:
    """One instance of a level stored as a Concatenation: its file and the frames it holds."""

    path: str
    sop_instance_uid: str
    first_frame: int
    number_of_frames: int


@dataclass(frozen=True, eq=False)
class SlideLevel:
    """One pyramid level of a slide: its geometry and header (no pixels).

    ``dataset`` is the pydicom header of the level's (first) instance, read up to its Per-frame
    Functional Groups.  A level stored as a Concatenation lists its instances in ``parts``
    (``path`` / ``sop_instance_uid`` are the first part's, ``number_of_frames`` the total).
    """

    index: int
    geometry: SlideGeometry
    dataset: Any
    path: str
    sop_class_uid: str
    sop_instance_uid: str
    number_of_frames: int
    dimension_organization_type: str | None
    concatenation_uid: str | None = None
    parts: tuple[SlidePart, ...] = ()

    @property
    def frame_of_reference_uid(self) -> str:
        return str(self.dataset.get("FrameOfReferenceUID", "") or "")

    def describe(self) -> str:
        """``index: rows x columns (spacing um)``, as errors list the levels."""
        g = self.geometry
        rows_um, cols_um = (1000.0 * v for v in g.pixel_spacing)
        spacing = (
            f"{rows_um:.4g}"
            if abs(rows_um - cols_um) <= 1e-9 * max(rows_um, cols_um)
            else f"{rows_um:.4g} x {cols_um:.4g}"
        )
        return f"{self.index}: {g.rows} x {g.columns} ({spacing} um)"


@dataclass(frozen=True, eq=False)
class SlideSource:
    """The pyramid levels of one slide series, largest first, with what was noticed on the way."""

    levels: tuple[SlideLevel, ...]
    series_instance_uid: str
    notes: tuple[str, ...] = ()

    @property
    def listing(self) -> str:
        """Every level as ``index: rows x columns (spacing um)``, comma-separated."""
        return ", ".join(level.describe() for level in self.levels)

    @property
    def frame_of_reference_uid(self) -> str:
        return self.levels[0].frame_of_reference_uid

    def level(self, index: int) -> SlideLevel:
        """Level ``index`` (0 = the largest).

        Raises
        ------
        InputError
            No such level (the message lists the levels).
        """
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(self.levels):
            raise InputError(
                f"the slide has no level {index!r}; its levels are {self.listing}: choose one of "
                f"0..{len(self.levels) - 1}"
            )
        return self.levels[index]

    def level_for(self, rows: int, columns: int) -> SlideLevel:
        """The level whose Total Pixel Matrix is ``rows`` x ``columns``.

        Raises
        ------
        InputError
            No level has that size (the message lists the levels).
        """
        for level in self.levels:
            if level.geometry.shape == (rows, columns):
                return level
        raise InputError(
            f"the label image is {rows} x {columns} pixels but no level of the slide has that size; its levels are "
            f"{self.listing}: give a label image of one level's size"
        )


def _as_list(paths: str | os.PathLike | Sequence[str | os.PathLike]) -> list[str | os.PathLike]:
    return [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)


def _where(paths: list[str | os.PathLike]) -> str:
    shown = ", ".join(repr(str(p)) for p in paths[:3])
    return shown + f" and {len(paths) - 3} more" if len(paths) > 3 else shown


def _other_series(found: list[Sniffed]) -> str:
    groups: dict[str, list[Sniffed]] = {}
    for f in found:
        groups.setdefault(f.series_instance_uid, []).append(f)
    parts = []
    for uid, members in groups.items():
        first = members[0]
        what = first.modality or "unnamed-modality"
        article = "an" if what[:1].upper() in "AEFHILMNORSX" else "a"  # said as letters: "an MR", "a CT"
        parts.append(
            f"{article} {what} series ({first.class_name}, {len(members)} file(s), SeriesInstanceUID {uid or '?'})"
        )
    return "; ".join(parts)


def load_slide(
    paths: str | os.PathLike | Sequence[str | os.PathLike],
    *,
    series_uid: str | None = None,
    pyramid_uid: str | None = None,
) -> SlideSource:
    """The pyramid levels of the slide under ``paths`` (headers only), largest first.

    Parameters
    ----------
    paths
        Folders (walked recursively) and/or files.  Non-DICOM files, non-image objects and
        other images are ignored when a slide is present.
    series_uid
        The slide series to use when ``paths`` hold several.
    pyramid_uid
        The pyramid to use when one series holds several.

    Returns
    -------
    SlideSource
        The VOLUME levels (LABEL / OVERVIEW / THUMBNAIL images are left out with a note).

    Raises
    ------
    DicomSeriesError
        No slide (e.g. a CT series: the message says what was found), several series or
        pyramids without a choice, a damaged file, a level without Total Pixel Matrix size,
        spacing, origin or orientation, zero or non-finite spacing, levels on different
        Frames of Reference, a concatenation that is not simple.
    UnsupportedError
        A level with several focal planes (Total Pixel Matrix Focal Planes > 1).
    """
    given = _as_list(paths)
    if not given:
        raise DicomSeriesError("no DICOM input given: pass the slide's folder or its level files")
    files, special = find_files(given)
    where = _where(given)
    notes: list[str] = []
    slides: list[Sniffed] = []
    others: list[Sniffed] = []
    non_dicom = unreadable = 0
    for path in files:
        try:
            found = sniff_file(path)
        except OSError:
            unreadable += 1
            continue
        if found is None:
            non_dicom += 1
        elif found.is_wsi:
            slides.append(found)
        elif found.image:
            others.append(found)
    if unreadable or special:
        notes.append(
            f"ignored in the DICOM input: {unreadable} unreadable file(s) and {special} entr(y/ies) that are not "
            "regular files"
        )
    if not slides:
        if others:
            raise DicomSeriesError(
                f"{where} holds {_other_series(others)}, not a slide: slide labels need the VL Whole Slide "
                f"Microscopy Image files (SOP class {WSI_SOP_CLASS}, Modality SM) of the slide they were drawn "
                "on; give the folder of its pyramid levels"
            )
        raise DicomSeriesError(
            f"no VL Whole Slide Microscopy Image files were found in {where} ({len(files)} file(s) scanned, "
            f"{non_dicom} not DICOM); give the folder of the slide's pyramid levels (SOP class {WSI_SOP_CLASS})"
        )
    if others:
        notes.append(f"ignored in the DICOM input: {_other_series(others)} (not a slide)")
    series_uid = _choose_series(slides, series_uid, where)
    members = [s for s in slides if s.series_instance_uid == series_uid]
    skipped = [s for s in slides if s.series_instance_uid == series_uid and s.flavour in NOT_LEVELS]
    if skipped:
        kinds = sorted({s.flavour.lower() for s in skipped})
        notes.append(
            f"ignored {len(skipped)} {'/'.join(kinds)} image(s) of the slide (not pyramid levels): "
            + ", ".join(repr(s.path) for s in skipped)
        )
    volumes = [s for s in members if s.flavour not in NOT_LEVELS]
    instances = [_instance(s) for s in volumes]
    instances = _choose_pyramid(instances, pyramid_uid, series_uid)
    levels = _levels(instances, notes)
    return SlideSource(levels=tuple(levels), series_instance_uid=series_uid, notes=tuple(notes))


def _choose_series(slides: list[Sniffed], series_uid: str | None, where: str) -> str:
    groups: dict[str, list[Sniffed]] = {}
    for s in slides:
        groups.setdefault(s.series_instance_uid, []).append(s)
    with_levels = {uid: m for uid, m in groups.items() if any(s.flavour not in NOT_LEVELS for s in m)}

    def listing() -> str:
        return "; ".join(
            f"SeriesInstanceUID {uid or '(none)'}: {len(m)} file(s)"
            + (f", SeriesNumber {m[0].series_number}" if m[0].series_number else "")
            + (f", {m[0].series_description!r}" if m[0].series_description else "")
            for uid, m in groups.items()
        )

    if series_uid is not None:
        if series_uid not in groups:
            raise DicomSeriesError(
                f"slide series {series_uid} was not found in {where}; the slide series there are: {listing()}"
            )
        if series_uid not in with_levels:
            raise DicomSeriesError(
                f"slide series {series_uid} in {where} holds only label / overview / thumbnail images, no pyramid "
                f"levels (Image Type VOLUME); the slide series there are: {listing()}"
            )
        return series_uid
    if not with_levels:
        raise DicomSeriesError(
            f"the slide files in {where} are only label / overview / thumbnail images, no pyramid levels (Image "
            "Type VOLUME): give the folder of the slide's pyramid levels"
        )
    if len(with_levels) > 1:
        raise DicomSeriesError(
            f"{len(with_levels)} slide series were found in {where}; pass --series-uid UID (series_uid=...) or only "
            f"one series' files to choose one: {listing()}"
        )
    return next(iter(with_levels))


def _instance(s: Sniffed) -> Instance:
    ds = read_wsi_header(s.path)
    return Instance(sniffed=s, dataset=ds)


def _choose_pyramid(instances: list[Instance], pyramid_uid: str | None, series_uid: str) -> list[Instance]:
    groups: dict[str, list[Instance]] = {}
    for i in instances:
        groups.setdefault(i.pyramid_uid, []).append(i)
    if pyramid_uid is not None:
        if pyramid_uid not in groups:
            raise DicomSeriesError(
                f"pyramid {pyramid_uid} is not in slide series {series_uid}; its pyramids are: "
                + "; ".join(f"PyramidUID {uid or '(none)'}: {len(m)} instance(s)" for uid, m in groups.items())
            )
        return groups[pyramid_uid]
    if len(groups) > 1 and sum(1 for uid in groups if uid) > 1:
        raise DicomSeriesError(
            f"slide series {series_uid} holds {len(groups)} pyramids; pass pyramid_uid=... or only one pyramid's "
            "files: " + "; ".join(f"PyramidUID {uid or '(none)'}: {len(m)} instance(s)" for uid, m in groups.items())
        )
    return instances


def _levels(instances: list[Instance], notes: list[str]) -> list[SlideLevel]:
    """Instances grouped into levels (concatenations joined, copies and extra channels folded), largest first."""
    by_uid: dict[str, Instance] = {}
    for i in instances:
        uid = i.sniffed.sop_instance_uid
        if uid and uid in by_uid:
            notes.append(
                f"{i.sniffed.path!r} is another copy of SOP instance {uid} ({by_uid[uid].sniffed.path!r}); used once"
            )
            continue
        by_uid[uid or i.sniffed.path] = i
    groups: dict[str, list[Instance]] = {}
    for i in by_uid.values():
        groups.setdefault(i.concatenation_uid or f"instance:{i.sniffed.path}", []).append(i)
    merged = [merge_level(members, notes) for members in groups.values()]
    by_size: dict[tuple[int, int], list[Level]] = {}
    for m in merged:
        by_size.setdefault(m.geometry.shape, []).append(m)
    chosen = [_one_per_size(ms, notes) for ms in by_size.values()]
    chosen.sort(key=lambda m: (-(m.geometry.rows * m.geometry.columns), -m.geometry.rows))
    frames = {m.frame_of_reference_uid for m in chosen}
    if len(frames) > 1:
        detail = "; ".join(
            f"{m.geometry.rows} x {m.geometry.columns} ({m.path!r}): {m.frame_of_reference_uid or '(none)'}"
            for m in chosen
        )
        raise DicomSeriesError(
            "the pyramid levels have different Frames of Reference (FrameOfReferenceUID), which viewers refuse: "
            f"{detail}; give only the files of one slide scan",
            keyword="FrameOfReferenceUID",
            tag=0x00200052,
        )
    containers = {m.container_identifier for m in chosen}
    if len(containers) > 1:
        notes.append(
            f"the pyramid levels have different Container Identifiers {sorted(containers)}; each SEG "
            "copies its own level's"
        )
    return [
        SlideLevel(
            index=k,
            geometry=m.geometry,
            dataset=m.dataset,
            path=m.path,
            sop_class_uid=WSI_SOP_CLASS,
            sop_instance_uid=m.sop_instance_uid,
            number_of_frames=m.number_of_frames,
            dimension_organization_type=m.dimension_organization_type,
            concatenation_uid=m.concatenation_uid,
            parts=tuple(SlidePart(*p) for p in m.parts),
        )
        for k, m in enumerate(chosen)
    ]


def _one_per_size(merged: list[Level], notes: list[str]) -> Level:
    """One level per Total Pixel Matrix size: other instances of that size (further optical paths or
    channels) must agree on the geometry; the lowest Instance Number is kept."""
    merged = sorted(merged, key=lambda m: (m.instance_number, m.path))
    first = merged[0]
    for other in merged[1:]:
        if (
            other.geometry.max_deviation(first.geometry) > 1e-6
            or other.geometry.pixel_spacing != first.geometry.pixel_spacing
        ):
            raise DicomSeriesError(
                f"two instances of one level size {first.geometry.rows} x {first.geometry.columns} declare different "
                f"geometry (spacing, origin or orientation): {first.path!r} and {other.path!r}; give only the files "
                "of one pyramid",
                path=other.path,
            )
    if len(merged) > 1:
        notes.append(
            f"level {first.geometry.rows} x {first.geometry.columns} has {len(merged)} instances (optical paths or "
            f"channels); its geometry is taken from {first.path!r}"
        )
    return first
