"""What ``import labelmap`` offers: each name and the module it is imported from on first use.

``labelmap/__init__.py`` reads this stub to build its lazy ``__getattr__`` (lazy_loader's
attach_stub style), so mypy, IDEs and the runtime share one list: one ``from ... import N as N``
line per name.
"""

from labelmap._util.progress import Progress as Progress
from labelmap._util.progress import ProgressLog as ProgressLog
from labelmap._util.resources import Resources as Resources
from labelmap.errors import DicomFormatError as DicomFormatError
from labelmap.errors import DicomSeriesError as DicomSeriesError
from labelmap.errors import GeometryError as GeometryError
from labelmap.errors import ImageFormatError as ImageFormatError
from labelmap.errors import InputError as InputError
from labelmap.errors import LabelmapError as LabelmapError
from labelmap.errors import MetadataError as MetadataError
from labelmap.errors import MissingDependencyError as MissingDependencyError
from labelmap.errors import OutputError as OutputError
from labelmap.errors import OverlapError as OverlapError
from labelmap.errors import SegFormatError as SegFormatError
from labelmap.errors import SliceMatchError as SliceMatchError
from labelmap.errors import UnsupportedError as UnsupportedError
from labelmap.formats.dcmqi_json import Metadata as Metadata
from labelmap.formats.dcmqi_json import load_metadata as load_metadata
from labelmap.formats.dcmqi_json import metadata_to_dict as metadata_to_dict
from labelmap.formats.dcmqi_json import write_metadata as write_metadata
from labelmap.formats.nifti_memory import from_nifti as from_nifti
from labelmap.formats.nifti_memory import to_nifti as to_nifti
from labelmap.formats.segnrrd import read_segnrrd as read_segnrrd
from labelmap.formats.segnrrd import write_segnrrd as write_segnrrd
from labelmap.formats.sitk import from_sitk as from_sitk
from labelmap.formats.sitk import to_sitk as to_sitk
from labelmap.model import Code as Code
from labelmap.model import Geometry as Geometry
from labelmap.model import LabelVolume as LabelVolume
from labelmap.model import SegmentDescription as SegmentDescription
from labelmap.model import SeriesAttributes as SeriesAttributes
from labelmap.model import SlideGeometry as SlideGeometry
from labelmap.model import SlideLabelImage as SlideLabelImage
from labelmap.model import SlideLabels as SlideLabels
from labelmap.model import SourceSeries as SourceSeries
from labelmap.model import as_slide_labels as as_slide_labels
from labelmap.pipeline.bin2label import binary_to_labelmap as binary_to_labelmap
from labelmap.pipeline.convert import encode_seg as encode_seg
from labelmap.pipeline.convert import itk_to_seg as itk_to_seg
from labelmap.pipeline.convert import load_source as load_source
from labelmap.pipeline.convert import read_labels as read_labels
from labelmap.pipeline.convert import read_seg as read_seg
from labelmap.pipeline.convert import seg_to_itk as seg_to_itk
from labelmap.pipeline.convert import write_labels as write_labels
from labelmap.pipeline.convert import write_seg as write_seg
from labelmap.pipeline.options import ReadOptions as ReadOptions
from labelmap.pipeline.options import WriteOptions as WriteOptions
from labelmap.pipeline.preview import preview_seg as preview_seg
from labelmap.pipeline.reports import PreviewReport as PreviewReport
from labelmap.pipeline.reports import ReadReport as ReadReport
from labelmap.pipeline.reports import WriteReport as WriteReport
from labelmap.pipeline.slide import slide_to_seg as slide_to_seg
from labelmap.pipeline.slide_api import read_slide_seg as read_slide_seg
from labelmap.pipeline.slide_api import slide_labels_from_tiles as slide_labels_from_tiles
from labelmap.seg.highdicom_interop import to_highdicom as to_highdicom
from labelmap.seg.summary import seg_summary as seg_summary
from labelmap.seg.tiled_read import open_slide_seg as open_slide_seg
from labelmap.sources.slide import load_slide as load_slide
from labelmap.validate import check_seg as check_seg
from labelmap.validate import validate_seg as validate_seg

__version__: str
