"""Source series from the wild: junk beside the CT, deflated and preamble-less files, duplicate UIDs,
missing Frame of Reference, gantry tilt, Enhanced CT, mixed series, zero spacing, one slice."""

from __future__ import annotations

import gzip
import os
import shutil
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
from _args import itk2seg, label_file, meta_file
from _base import Base, copy_tree, ct_files, edited
from _harness import Case, Run
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from labelmap.model import Geometry

from _geometries import axial_geometry, make_ct_series, tilted_geometry


def case(name: str, build: Callable[[Base, Path], Run], *, slow=False) -> Case:
    return Case(f"source/{name}", "source", build, slow)


def ct_copy(base: Base, root: Path) -> Path:
    return copy_tree(base.ct, root / "ct")


def each_slice(base: Base, root: Path, change: Callable[[pydicom.Dataset, int], object], **save) -> Path:
    ct = ct_copy(base, root)
    for k, path in enumerate(ct_files(ct)):
        edited(path, path, lambda ds, k=k: change(ds, k), **save)
    return ct


def with_files(base: Base, root: Path, add: Callable[[Path], object]) -> Path:
    ct = ct_copy(base, root)
    add(ct)
    return ct


def sparse(path: Path, size: int, head: bytes = b"") -> None:
    with open(path, "wb") as f:
        f.write(head)
        f.truncate(size)


def junk(ct: Path) -> None:
    sparse(ct / "archive.zip", 2 << 30, b"PK\x03\x04")
    sparse(ct / "big.dcm", 2 << 30)  # 2 GB of zeros named .dcm
    sparse(ct / "video.mp4", 1 << 30, b"\x00\x00\x00\x18ftypmp42")
    (ct / "slices.dcm.gz").write_bytes(gzip.compress(ct_files(ct)[0].read_bytes()))


def fake_dicom(ct: Path) -> None:
    """Files with the DICM magic and nothing sensible after it (damaged or bogus DICOM)."""
    (ct / "fake.dcm").write_bytes(bytes(128) + b"DICM" + os.urandom(3000))
    (ct / "DICOMDIR").write_bytes(bytes(128) + b"DICM" + b"\x02\x00\x00\x00UL\x04\x00\x00\x00\x00\x00")


def deflated(ds: pydicom.Dataset, k: int) -> None:
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.1.99"


def no_preamble(base: Base, root: Path) -> Path:
    """Raw data sets: implicit VR little endian, no preamble, no file meta (as DCMTK still reads them)."""
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset

    ct = ct_copy(base, root)
    for path in ct_files(ct):
        ds = pydicom.dcmread(path)
        del ds.file_meta
        fp = DicomBytesIO()
        fp.is_little_endian, fp.is_implicit_VR = True, True
        write_dataset(fp, ds)
        path.write_bytes(fp.getvalue())
    return ct


def duplicate_uid(ds: pydicom.Dataset, k: int) -> None:
    if k == 3:
        uid = pydicom.dcmread(ct_files(Path(ds.filename).parent)[2], stop_before_pixels=True).SOPInstanceUID
        ds.SOPInstanceUID = uid
        ds.file_meta.MediaStorageSOPInstanceUID = uid


def tilted(base: Base, root: Path) -> Run:
    g = tilted_geometry(shape=(6, 24, 20), tilt_deg=20.0)
    ct = make_ct_series(root, g, name="ct")
    return itk2seg(base, root, label_file(base, root, "tilt.nrrd", base.labels, g), dicom=ct)


def enhanced_ct(base: Base, root: Path) -> Run:
    """One Enhanced CT Image file holding the base CT's six slices as frames."""
    ct = root / "ct"
    ct.mkdir()
    slices = [pydicom.dcmread(p) for p in ct_files(base.ct)]
    first = slices[0]
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    for keyword in (
        "PatientName",
        "PatientID",
        "StudyInstanceUID",
        "SeriesInstanceUID",
        "FrameOfReferenceUID",
        "Modality",
        "Rows",
        "Columns",
        "BitsAllocated",
        "BitsStored",
        "HighBit",
        "PixelRepresentation",
        "SamplesPerPixel",
        "PhotometricInterpretation",
    ):
        if keyword in first:
            setattr(ds, keyword, first.data_element(keyword).value)
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2.1"
    ds.SOPInstanceUID = generate_uid()
    ds.NumberOfFrames = len(slices)
    shared = Dataset()
    measures = Dataset()
    measures.PixelSpacing = first.PixelSpacing
    measures.SliceThickness = first.SliceThickness
    shared.PixelMeasuresSequence = DicomSequence([measures])
    orient = Dataset()
    orient.ImageOrientationPatient = first.ImageOrientationPatient
    shared.PlaneOrientationSequence = DicomSequence([orient])
    ds.SharedFunctionalGroupsSequence = DicomSequence([shared])
    items = []
    for s in slices:
        item = Dataset()
        pos = Dataset()
        pos.ImagePositionPatient = s.ImagePositionPatient
        item.PlanePositionSequence = DicomSequence([pos])
        items.append(item)
    ds.PerFrameFunctionalGroupsSequence = DicomSequence(items)
    ds.PixelData = b"".join(s.PixelData for s in slices)
    ds.save_as(ct / "enhanced.dcm", enforce_file_format=True)
    return itk2seg(base, root, dicom=ct)


def mixed_modalities(base: Base, root: Path) -> Path:
    ct = ct_copy(base, root)
    mr = make_ct_series(root, base.geometry, name="mr", series_number=5, seed=3)
    for path in ct_files(mr):
        edited(
            path,
            ct / ("MR" + path.name),
            lambda ds: (setattr(ds, "Modality", "MR"), setattr(ds, "SOPClassUID", "1.2.840.10008.5.1.4.1.1.4")),
        )
    shutil.rmtree(mr)
    return ct


def one_slice(base: Base, root: Path) -> Run:
    g = axial_geometry(shape=(1, 24, 20))
    ct = make_ct_series(root, g, name="ct")
    return itk2seg(base, root, label_file(base, root, "one.nrrd", base.labels[2:3], g), dicom=ct)


def seg_in_ct_folder(base: Base, root: Path) -> Path:
    ct = ct_copy(base, root)
    shutil.copy(base.lm, ct / "seg.dcm")
    shutil.copy(base.binary, ct / "binary.dcm")
    return ct


def huge_private_in_ct(base: Base, root: Path) -> Path:
    """Every slice carries a private element claiming 0xFFFFFFF0 bytes before its pixels (files stay small)."""
    ct = ct_copy(base, root)
    for path in ct_files(ct):
        data = path.read_bytes()
        at = data.index(b"\xe0\x7f\x10\x00")
        path.write_bytes(data[:at] + b"\x09\x00\x10\x00OB\x00\x00\xf0\xff\xff\xff" + data[at:])
    return ct


def rows_differ(ds: pydicom.Dataset, k: int) -> None:
    if k == 2:
        ds.Rows = 65535
        ds.Columns = 65535


CASES: list[Case] = [
    case("junk-beside-the-ct", lambda b, r: itk2seg(b, r, dicom=with_files(b, r, junk), expect=0)),
    case("dicm-magic-then-garbage-beside-the-ct", lambda b, r: itk2seg(b, r, dicom=with_files(b, r, fake_dicom))),
    case("deflated-ct", lambda b, r: itk2seg(b, r, dicom=each_slice(b, r, deflated))),
    case("deflated-ct-one-slice-damaged", lambda b, r: itk2seg(b, r, dicom=_deflated_damaged(b, r))),
    case("no-preamble-no-file-meta", lambda b, r: itk2seg(b, r, dicom=no_preamble(b, r))),
    case("duplicate-sop-instance-uid", lambda b, r: itk2seg(b, r, dicom=each_slice(b, r, duplicate_uid), expect=1)),
    case(
        "no-frame-of-reference",
        lambda b, r: itk2seg(b, r, dicom=each_slice(b, r, lambda ds, k: delattr(ds, "FrameOfReferenceUID"))),
    ),
    case(
        "frame-of-reference-differs",
        lambda b, r: itk2seg(
            b,
            r,
            dicom=each_slice(
                b, r, lambda ds, k: setattr(ds, "FrameOfReferenceUID", generate_uid()) if k == 4 else None
            ),
        ),
    ),
    case("gantry-tilt", tilted),
    case(
        "gantry-tilt-header-only",
        lambda b, r: itk2seg(b, r, dicom=each_slice(b, r, lambda ds, k: setattr(ds, "GantryDetectorTilt", "20"))),
    ),
    case("enhanced-ct", enhanced_ct),
    case("mixed-ct-and-mr", lambda b, r: itk2seg(b, r, dicom=mixed_modalities(b, r))),
    case("seg-files-in-the-ct-folder", lambda b, r: itk2seg(b, r, dicom=seg_in_ct_folder(b, r))),
    case(
        "zero-pixel-spacing",
        lambda b, r: itk2seg(
            b, r, dicom=each_slice(b, r, lambda ds, k: setattr(ds, "PixelSpacing", ["0", "0"])), expect=1
        ),
    ),
    case(
        "nan-pixel-spacing",
        lambda b, r: itk2seg(
            b, r, dicom=each_slice(b, r, lambda ds, k: setattr(ds, "PixelSpacing", ["nan", "0.7"])), expect=1
        ),
    ),
    case(
        "inf-position",
        lambda b, r: itk2seg(
            b,
            r,
            dicom=each_slice(b, r, lambda ds, k: setattr(ds, "ImagePositionPatient", ["inf", "0", str(k)])),
            expect=1,
        ),
    ),
    case(
        "all-slices-at-one-position",
        lambda b, r: itk2seg(
            b, r, dicom=each_slice(b, r, lambda ds, k: setattr(ds, "ImagePositionPatient", ["0", "0", "0"])), expect=1
        ),
    ),
    case(
        "orientation-zero-vector",
        lambda b, r: itk2seg(
            b, r, dicom=each_slice(b, r, lambda ds, k: setattr(ds, "ImageOrientationPatient", ["0"] * 6)), expect=1
        ),
    ),
    case(
        "orientation-not-orthogonal",
        lambda b, r: itk2seg(
            b,
            r,
            dicom=each_slice(
                b, r, lambda ds, k: setattr(ds, "ImageOrientationPatient", ["1", "0", "0", "0.5", "0.8660254", "0"])
            ),
            expect=1,
        ),
    ),
    case("one-slice", one_slice),
    case("one-slice-claims-65535-rows", lambda b, r: itk2seg(b, r, dicom=each_slice(b, r, rows_differ), expect=1)),
    case("huge-private-element-in-every-slice", lambda b, r: itk2seg(b, r, dicom=huge_private_in_ct(b, r))),
    case(
        "big-endian-ct",
        lambda b, r: itk2seg(
            b, r, dicom=each_slice(b, r, _big_endian, little_endian=False, implicit_vr=False, force_encoding=True)
        ),
    ),
    case(
        "charset-iso2022-ir87-with-japanese-label",
        lambda b, r: itk2seg(
            b,
            r,
            dicom=each_slice(b, r, _jis_patient),
            meta=meta_file(b, r, lambda d: d["segmentAttributes"][0][0].update(SegmentLabel="肝臓")),
        ),
    ),
    case(
        "charset-iso2022-ir87-with-latin-label",
        lambda b, r: itk2seg(
            b,
            r,
            dicom=each_slice(b, r, _jis_patient),
            meta=meta_file(b, r, lambda d: d["segmentAttributes"][0][0].update(SegmentLabel="Müller")),
        ),
    ),
    case(
        "charset-latin1-with-japanese-label",
        lambda b, r: itk2seg(
            b,
            r,
            dicom=each_slice(b, r, lambda ds, k: setattr(ds, "SpecificCharacterSet", "ISO_IR 100")),
            meta=meta_file(b, r, lambda d: d["segmentAttributes"][0][0].update(SegmentLabel="肝臓")),
        ),
    ),
    case(
        "charset-unknown",
        lambda b, r: itk2seg(
            b, r, dicom=each_slice(b, r, lambda ds, k: setattr(ds, "SpecificCharacterSet", "ISO_IR 999"))
        ),
    ),
    case("patient-name-undecodable-bytes", lambda b, r: itk2seg(b, r, dicom=each_slice(b, r, _raw_name))),
]


def _big_endian(ds: pydicom.Dataset, k: int) -> None:
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.2"
    ds.PixelData = np.frombuffer(ds.PixelData, "<i2").astype(">i2").tobytes()


def _jis_patient(ds: pydicom.Dataset, k: int) -> None:
    ds.SpecificCharacterSet = ["", "ISO 2022 IR 87"]
    ds.PatientName = "ヤマダ^タロウ=山田^太郎"


def _raw_name(ds: pydicom.Dataset, k: int) -> None:
    ds.SpecificCharacterSet = "ISO_IR 192"
    from pydicom.dataelem import RawDataElement

    ds._dict[0x00100010] = RawDataElement(0x00100010, "PN", 4, b"\xff\xfe\xc3(", 0, False, True)  # type: ignore[attr-defined]


def _deflated_damaged(base: Base, root: Path) -> Path:
    ct = each_slice(base, root, deflated)
    path = ct_files(ct)[2]
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] + zlib.compress(b"garbage")[2:])
    return ct


_unused = (Geometry, np)
