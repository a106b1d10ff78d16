"""Built-in sample data: a synthetic CT series, an organ-like label map and its dcmqi metadata.

Used by ``labelmap-convert demo`` and by the tests.  Everything is deterministic for a
given ``seed`` (UIDs included), so repeated runs give identical files.
"""

from __future__ import annotations

import colorsys
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, CTImageStorage, ExplicitVRLittleEndian, generate_uid

from labelmap.model import Geometry

__all__ = ["ORGANS", "write_ct_series", "organ_phantom", "phantom_label_values", "sample_metadata"]

_ENTROPY_TAG = "labelmap-sample"


def _uid(seed: int, *parts: object) -> UID:
    return generate_uid(entropy_srcs=[_ENTROPY_TAG, str(seed), *(str(p) for p in parts)])


def _body_mask(rows: int, columns: int) -> np.ndarray:
    """A 2-D ellipse filling most of the in-plane field of view ([j, i])."""
    j = (np.arange(rows) + 0.5 - rows / 2.0) / (0.45 * rows)
    i = (np.arange(columns) + 0.5 - columns / 2.0) / (0.42 * columns)
    return (j[:, None] ** 2 + i[None, :] ** 2) <= 1.0


_DATE, _TIME = "20240101", "120000"

#: What every sample CT slice shares, in IOD module order (SOP Common, Patient, General Study, General Series,
#: Frame of Reference, General Equipment, General Image, Image Pixel, CT Image).
_CT_FIXED: dict[str, object] = {
    **dict(SpecificCharacterSet="ISO_IR 100", SOPClassUID=CTImageStorage, InstanceCreationDate=_DATE),
    **dict(InstanceCreationTime=_TIME, PatientBirthDate="19700101", PatientSex="O"),
    **dict(StudyDate=_DATE, StudyTime=_TIME, ReferringPhysicianName="Referrer^Sample", StudyID="LMSTUDY1"),
    **dict(AccessionNumber="LMACC0001", StudyDescription="labelmap sample study"),
    **dict(Modality="CT", SeriesDescription="labelmap sample CT", SeriesDate=_DATE, SeriesTime=_TIME),
    **dict(BodyPartExamined="ABDOMEN", PatientPosition="HFS", PositionReferenceIndicator=""),
    **dict(Manufacturer="labelmap", ManufacturerModelName="synthetic phantom", SoftwareVersions="1"),
    **dict(ImageType=["ORIGINAL", "PRIMARY", "AXIAL"], ContentDate=_DATE, ContentTime=_TIME, AcquisitionNumber=1),
    **dict(BurnedInAnnotation="NO", SamplesPerPixel=1, PhotometricInterpretation="MONOCHROME2"),
    **dict(BitsAllocated=16, BitsStored=16, HighBit=15, PixelRepresentation=1),
    **dict(RescaleIntercept="0", RescaleSlope="1", RescaleType="HU", KVP="120", WindowCenter="40", WindowWidth="400"),
}


def _ds(v: float) -> str:
    """A DS value (at most 16 characters), exact enough for the sample."""
    s = f"{v:.10g}"
    return s if len(s) <= 16 else f"{v:.8g}"


# --------------------------------------------------------------------------- CT series
def write_ct_series(
    directory: str | os.PathLike,
    geometry: Geometry,
    *,
    series_uid: str | None = None,
    study_uid: str | None = None,
    frame_of_reference_uid: str | None = None,
    patient_name: str = "Sample^Patient",
    patient_id: str = "LM0001",
    series_number: int = 1,
    pixel_array: np.ndarray | None = None,
    seed: int = 0,
) -> list[Path]:
    """Write one single-frame CT Image Storage file per slice k of ``geometry`` into ``directory``.

    Files are ``CT000001.dcm`` ... (Explicit VR Little Endian, with preamble and file meta).
    Pixels are a synthetic body phantom (air -1000 HU, soft tissue about 40 HU with noise) or
    ``pixel_array`` ([k, j, i], values in int16 range, in HU).  UIDs not given are derived from
    ``seed`` (and ``series_number`` for the series), so the output is reproducible.
    """
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    n_slices, rows, columns = geometry.shape
    if pixel_array is not None:
        pixel_array = np.asarray(pixel_array)
        if pixel_array.shape != geometry.shape:
            raise ValueError(f"pixel_array shape {pixel_array.shape} differs from geometry shape {geometry.shape}")
        if pixel_array.size and (pixel_array.min() < -32768 or pixel_array.max() > 32767):
            raise ValueError("pixel_array values must fit in int16")
    series_uid = series_uid or _uid(seed, "series", series_number)
    series = {
        **_CT_FIXED,
        **dict(PatientName=patient_name, PatientID=patient_id, StudyInstanceUID=study_uid or _uid(seed, "study")),
        **dict(SeriesInstanceUID=series_uid, SeriesNumber=int(series_number), Rows=rows, Columns=columns),
        "FrameOfReferenceUID": frame_of_reference_uid or _uid(seed, "frame-of-reference"),
        "PixelSpacing": [_ds(v) for v in geometry.pixel_spacing],
        "ImageOrientationPatient": [_ds(v) for v in geometry.image_orientation],
        "SliceThickness": _ds(float(geometry.spacing[2])),
    }
    positions = geometry.slice_positions()
    rng = np.random.default_rng(seed)
    body = _body_mask(rows, columns)
    base = np.where(body, np.int16(40), np.int16(-1000)).astype(np.int16)
    written: list[Path] = []
    for k in range(n_slices):
        if pixel_array is not None:
            frame = np.ascontiguousarray(pixel_array[k], dtype=np.int16)
        else:
            noise = rng.integers(-20, 21, size=(rows, columns), dtype=np.int16)
            frame = base + np.where(body, noise, np.int16(0)).astype(np.int16)
        ds = Dataset()
        ds.file_meta = FileMetaDataset()  # the rest of it is filled in from the dataset when saved
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.update(series)  # type: ignore[arg-type]  # pydicom takes keyword keys too; its stub says tags only
        ds.SOPInstanceUID = _uid(seed, "instance", series_uid, k)
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = [_ds(v) for v in positions[k]]
        ds.SliceLocation = _ds(float(np.dot(positions[k], geometry.normal)))
        ds.PixelData = frame.astype("<i2", copy=False).tobytes()
        path = out / f"CT{k + 1:06d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        written.append(path)
    return written


# --------------------------------------------------------------------------- label phantom
def phantom_label_values(n_labels: int, max_label: int | None = None) -> np.ndarray:
    """The label values :func:`organ_phantom` uses: 1..n, or n gapped values from 1 up to ``max_label``."""
    if n_labels < 1:
        raise ValueError(f"n_labels must be at least 1, got {n_labels}")
    if max_label is None:
        return np.arange(1, n_labels + 1, dtype=np.int64)
    if max_label < n_labels:
        raise ValueError(f"max_label {max_label} is smaller than n_labels {n_labels}")
    if n_labels == 1:
        return np.array([max_label], dtype=np.int64)
    values = np.round(np.geomspace(1, max_label, n_labels)).astype(np.int64)
    values[0], values[-1] = 1, max_label
    for m in range(1, n_labels):  # strictly increasing ...
        values[m] = max(values[m], values[m - 1] + 1)
    for m in range(n_labels - 1, -1, -1):  # ... and leave room below max_label
        values[m] = min(values[m], max_label - (n_labels - 1 - m))
    return values


def organ_phantom(
    geometry: Geometry,
    n_labels: int = 40,
    *,
    seed: int = 0,
    max_label: int | None = None,
    empty_slices: bool = True,
    dtype=np.uint16,
) -> np.ndarray:
    """A deterministic [k, j, i] label map of ``n_labels`` non-overlapping ellipsoidal blobs.

    Blobs lie inside a body ellipse; a later blob never overwrites an earlier one and every
    label value occurs at least once.  Values are :func:`phantom_label_values`.  With
    ``empty_slices`` the first and last slice stay empty (when there are at least 3 slices).
    """
    values = phantom_label_values(n_labels, max_label)
    if values[-1] > np.iinfo(dtype).max:
        raise ValueError(f"label value {values[-1]} does not fit in {np.dtype(dtype).name}")
    nk, nj, ni = geometry.shape
    out = np.zeros(geometry.shape, dtype=dtype)
    k0, k1 = (1, nk - 1) if (empty_slices and nk >= 3) else (0, nk)
    body = _body_mask(nj, ni)
    allowed_k = k1 - k0
    body_voxels = int(body.sum()) * allowed_k
    if body_voxels < n_labels:
        raise ValueError(f"geometry {geometry.shape} is too small for {n_labels} labels")
    rng = np.random.default_rng(seed)
    body_j, body_i = np.nonzero(body)

    # Average blob volume: about half the body split among the labels.
    base_r = (0.5 * body_voxels / n_labels * 3.0 / (4.0 * np.pi)) ** (1.0 / 3.0)
    for value in values:
        for _attempt in range(8):
            radii = np.maximum(base_r * rng.uniform(0.5, 1.5, size=3), 0.6)
            radii[0] = min(radii[0], max(allowed_k / 2.0, 0.6))
            pick = rng.integers(len(body_j))
            center = np.array([np.floor(rng.uniform(k0, k1 - 1e-9)), body_j[pick], body_i[pick]], dtype=np.float64)
            lo = np.maximum(np.floor(center - radii).astype(int), [k0, 0, 0])
            hi = np.minimum(np.ceil(center + radii).astype(int) + 1, [k1, nj, ni])
            kk, jj, ii = np.ogrid[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
            inside = sum(((g - c) / r) ** 2 for g, c, r in zip((kk, jj, ii), center, radii)) <= 1.0
            box = out[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
            mask = inside & body[lo[1] : hi[1], lo[2] : hi[2]][None, :, :] & (box == 0)
            if mask.any():
                box[mask] = value
                break
        else:  # crowded: take one free body voxel
            free = np.argwhere((out[k0:k1] == 0) & body[None, :, :])
            if free.size == 0:
                raise ValueError(f"no room left for label {value} in geometry {geometry.shape}")
            k, j, i = free[rng.integers(len(free))]
            out[k0 + k, j, i] = value
    return out


# --------------------------------------------------------------------------- metadata
_RIGHT = ("24028007", "Right")
_LEFT = ("7771000", "Left")

#: (SegmentLabel, SNOMED CT type code value, type CodeMeaning, laterality modifier or None)
ORGANS: tuple[tuple[str, str, str, tuple[str, str] | None], ...] = (
    ("Liver", "10200004", "Liver", None),
    ("Spleen", "78961009", "Spleen", None),
    ("Right kidney", "64033007", "Kidney", _RIGHT),
    ("Left kidney", "64033007", "Kidney", _LEFT),
    ("Pancreas", "15776009", "Pancreas", None),
    ("Stomach", "69695003", "Stomach", None),
    ("Gallbladder", "28231008", "Gallbladder", None),
    ("Aorta", "15825003", "Aorta", None),
    ("Inferior vena cava", "64131007", "Inferior vena cava", None),
    ("Portal vein", "32764006", "Portal vein", None),
    ("Heart", "80891009", "Heart", None),
    ("Right lung", "39607008", "Lung", _RIGHT),
    ("Left lung", "39607008", "Lung", _LEFT),
    ("Urinary bladder", "89837001", "Urinary bladder", None),
    ("Esophagus", "32849002", "Esophagus", None),
    ("Trachea", "44567001", "Trachea", None),
    ("Brain", "12738006", "Brain", None),
    ("Prostate", "41216001", "Prostate", None),
    ("Right femur", "71341001", "Femur", _RIGHT),
    ("Left femur", "71341001", "Femur", _LEFT),
    ("Right adrenal gland", "23451007", "Adrenal gland", _RIGHT),
    ("Left adrenal gland", "23451007", "Adrenal gland", _LEFT),
    ("Duodenum", "38848004", "Duodenum", None),
    ("Small intestine", "30315005", "Small intestine", None),
    ("Colon", "71854001", "Colon", None),
    ("Rectum", "34402009", "Rectum", None),
    ("Left atrium", "82471001", "Left atrium", None),
    ("Right atrium", "73829009", "Right atrium", None),
    ("Left ventricle", "87878005", "Left ventricle", None),
    ("Right ventricle", "53085002", "Right ventricle", None),
    ("Pulmonary artery", "81040000", "Pulmonary artery", None),
    ("L1 vertebra", "66794005", "L1 vertebra", None),
    ("L2 vertebra", "14293000", "L2 vertebra", None),
    ("L3 vertebra", "36470004", "L3 vertebra", None),
    ("L4 vertebra", "11994002", "L4 vertebra", None),
    ("L5 vertebra", "49668003", "L5 vertebra", None),
    ("T12 vertebra", "23215003", "T12 vertebra", None),
    ("Right common iliac artery", "73634005", "Common iliac artery", _RIGHT),
    ("Left common iliac artery", "73634005", "Common iliac artery", _LEFT),
    ("Right common iliac vein", "46027005", "Common iliac vein", _RIGHT),
    ("Left common iliac vein", "46027005", "Common iliac vein", _LEFT),
)


def _sct(value: str, meaning: str) -> dict[str, str]:
    return {"CodeValue": value, "CodingSchemeDesignator": "SCT", "CodeMeaning": meaning}


def _distinct_rgb(index: int) -> tuple[int, int, int]:
    """A colour far from its neighbours: golden-ratio hue steps, three brightness levels."""
    hue = (index * 0.618033988749895) % 1.0
    light = (0.45, 0.60, 0.35)[index % 3]
    sat = (0.75, 0.55, 0.9)[(index // 3) % 3]
    r, g, b = colorsys.hls_to_rgb(hue, light, sat)
    return (int(round(r * 255)), int(round(g * 255)), int(round(b * 255)))


def sample_metadata(label_values: Sequence[int]) -> dict:
    """A dcmqi metadata dict with one Anatomical Structure segment per label value.

    Names and SNOMED CT codes cycle through :data:`ORGANS` (with " 2", " 3", ... appended
    beyond the list); colours are distinct per position in ``label_values``.
    """
    segments = []
    used_rgb: set[tuple[int, int, int]] = set()
    for index, value in enumerate(label_values):
        name, code, meaning, modifier = ORGANS[index % len(ORGANS)]
        cycle = index // len(ORGANS)
        label = name if cycle == 0 else f"{name} {cycle + 1}"
        rgb = _distinct_rgb(index)
        bump = 0
        while rgb in used_rgb:  # guarantee distinctness
            bump += 1
            rgb = (rgb[0], rgb[1], (rgb[2] + bump) % 256)
        used_rgb.add(rgb)
        segment = {
            "labelID": int(value),
            "SegmentLabel": label,
            "SegmentDescription": f"Synthetic {label.lower()}",
            "SegmentAlgorithmType": "AUTOMATIC",
            "SegmentAlgorithmName": "labelmap-demo",
            "SegmentedPropertyCategoryCodeSequence": _sct("123037004", "Anatomical Structure"),
            "SegmentedPropertyTypeCodeSequence": _sct(code, meaning),
            "recommendedDisplayRGBValue": list(rgb),
        }
        if modifier is not None:
            segment["SegmentedPropertyTypeModifierCodeSequence"] = _sct(*modifier)
        segments.append(segment)
    return {
        "ContentCreatorName": "labelmap^demo",
        "ClinicalTrialSeriesID": "Session1",
        "ClinicalTrialTimePointID": "1",
        "SeriesDescription": "labelmap demo segmentation",
        "SeriesNumber": "300",
        "InstanceNumber": "1",
        "BodyPartExamined": "ABDOMEN",
        "segmentAttributes": [segments],
    }
