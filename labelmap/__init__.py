"""labelmap: DICOM Segmentation (LABELMAP, BINARY, FRACTIONAL) <-> NRRD / NIfTI."""
__version__ = "0.1.0"
