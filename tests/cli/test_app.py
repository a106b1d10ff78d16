"""The app and its entry point: errors worded with the flags of the command that was run."""

from __future__ import annotations

import pytest

from labelmap.cli import app as cli_app
from labelmap.cli import dcmqi, native, options
from labelmap.errors import HINTS, LabelmapError, MetadataError

from _cli import run_cli


@pytest.mark.parametrize("family", [native.HINT_TEXT, dcmqi.HINT_TEXT])
def test_every_hint_code_has_a_text_in_each_command_family(family):
    assert sorted(family) == sorted(HINTS)


def test_hint_texts_follow_the_command():
    assert cli_app.hint_texts(["itk2seg", "-q"]) is native.HINT_TEXT
    assert cli_app.hint_texts(["--verbose", "itkimage2segimage"]) is dcmqi.HINT_TEXT
    assert cli_app.hint_texts(["bin2labelsegimage"]) is dcmqi.HINT_TEXT
    assert cli_app.hint_texts([]) is native.HINT_TEXT
    assert set(cli_app.COMMANDS) == {c.name for c in cli_app.app.registered_commands}


def test_error_line_words_the_hint_and_folds_lines():
    err = MetadataError("classic SEG needs Segment Numbers 1..N\n  got [2, 5]", path="m.json", hint="renumber")
    assert cli_app.error_line(err, native.HINT_TEXT) == (
        "error: m.json: classic SEG needs Segment Numbers 1..N got [2, 5] (--renumber)"
    )
    assert cli_app.error_line(err, dcmqi.HINT_TEXT).endswith("(leave out --useLabelIDAsSegmentNumber)")
    assert cli_app.error_line(LabelmapError("plain text; as it is"), native.HINT_TEXT) == "error: plain text; as it is"
    # a code a family does not know keeps the library's wording
    odd = LabelmapError("x", hint="renumber")
    assert cli_app.error_line(odd, {}) == f"error: x ({HINTS['renumber']})"


@pytest.mark.parametrize(
    "args, advice",
    [
        (["itk2seg", "l.nrrd", "-d", "ct", "-o", "{out}"], "(--renumber)"),
        (
            ["itkimage2segimage", "--inputImageList", "l.nrrd", "--inputMetadata", "m.json"]
            + ["--inputDICOMDirectory", "ct", "--outputDICOM", "{out}"],
            "(leave out --useLabelIDAsSegmentNumber)",
        ),
    ],
)
def test_main_words_a_library_hint_with_the_command_flags(monkeypatch, capsys, tmp_path, args, advice):
    from labelmap.pipeline import convert

    def refuse(*args, **kwargs):
        raise MetadataError("label values are not 1..N", hint="renumber")

    monkeypatch.setattr(convert, "itk_to_seg", refuse)
    rc, out, err = run_cli(capsys, *(a.format(out=tmp_path / "x.dcm") for a in args))
    assert (rc, out) == (1, "")
    assert err == f"error: label values are not 1..N {advice}\n"


def test_default_tolerance_is_the_library_default():
    from labelmap.geometry import DEFAULT_TOLERANCE_MM

    assert options.DEFAULT_TOLERANCE == DEFAULT_TOLERANCE_MM
