"""Manifests and templates -> jobs: every problem is one line naming the line and column, before anything runs."""

from __future__ import annotations

import os

import pytest
from _batch import itk2seg_rows, make_collection, write_manifest

from labelmap.cli.batch.manifest import discover, read_manifest
from labelmap.cli.batch.manifest import write_manifest as write_plan
from labelmap.errors import ManifestError


@pytest.fixture(scope="module")
def collection(tmp_path_factory):
    root = tmp_path_factory.mktemp("coll")
    return root, make_collection(root, 3)


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_rows_become_jobs_with_absolute_paths_from_the_manifest_folder(collection, tmp_path, monkeypatch):
    root, cases = collection
    rows = itk2seg_rows(cases, root)
    rows[1]["options"] = "--compression rle --type binary"
    manifest = write_manifest(root / "m.csv", rows, ["id", "labels", "dicom", "metadata", "output", "options"])
    monkeypatch.chdir(tmp_path)  # relative paths start at the manifest's folder, not the working folder
    plan = read_manifest(manifest, ["--compression", "none"])
    assert plan.command == "itk2seg" and [j.id for j in plan.jobs] == ["case0", "case1", "case2"]
    job = plan.jobs[1]
    assert job.index == 1 and job.line == 3 and job.output == str(root / "out" / "case1.seg.dcm")
    assert job.argv[:2] == ("itk2seg", str(cases[1]["lab"])) and job.argv[-1] == "--quiet"
    # batch-wide flags first, the row's options after them (the last one wins)
    tail = list(job.argv[job.argv.index("--compression") :])
    assert tail == ["--compression", "none", "--compression", "rle", "--type", "binary", "--quiet"]
    assert set(job.inputs) == {str(cases[1]["lab"]), str(cases[1]["ct"]), str(cases[1]["meta"])}


def test_bom_comments_blank_lines_and_several_files_per_cell(collection):
    root, cases = collection
    c = cases[0]
    text = (
        "\ufefflabels,dicom,metadata,output\n"
        "# a comment line\n"
        "\n"
        f"{c['lab']};{cases[1]['lab']},{c['ct']},{c['meta']},x.dcm\n"
    )
    plan = read_manifest(_write(root / "bom.csv", text))
    job = plan.jobs[0]
    assert job.id == "row4" and job.argv[1:3] == (str(c["lab"]), str(cases[1]["lab"]))


def test_seg_nrrd_rows_need_no_metadata_column(tmp_path):
    path = _write(tmp_path / "s.csv", "labels,dicom,output\na.seg.nrrd,ct,a.dcm\nb.nrrd,ct,b.dcm\n")
    with pytest.raises(ManifestError, match="line 3, column 'metadata': empty"):
        read_manifest(path)
    path = _write(tmp_path / "s.csv", "labels,dicom,output\na.seg.nrrd,ct,a.dcm\n")
    assert "--metadata" not in read_manifest(path).jobs[0].argv


def test_seg2itk_manifest(collection):
    root, _ = collection
    plan = read_manifest(_write(root / "s.csv", "seg,output,reference\na.dcm,out/a,case0/ct\n"))
    job = plan.jobs[0]
    assert plan.command == "seg2itk"
    assert job.argv == ("seg2itk", str(root / "a.dcm"), "--output-dir", str(root / "out/a"))[:4] + job.argv[4:]
    assert "--reference" in job.argv and job.argv[-1] == "--quiet"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "is empty"),
        ("labels,dicom,metadata\n", "missing column output"),
        ("labels,metadata\n", "missing columns dicom, output"),
        ("labels,dicom,metadata,output,colour\n", "unknown column 'colour'"),
        ("labels,dicom,metadata,output,output\n", "column 'output' appears twice"),
        ("labels,seg,output\n", "both 'labels' and 'seg'"),
        ("input,output\n", "no 'labels' or 'seg' column"),
        ("labels,dicom,metadata,output\n", "has a header but no rows"),
        ("labels,dicom,metadata,output\na.nrrd,ct,m.json\n", "line 2: 3 cells, the header has 4"),
        ("labels,dicom,metadata,output\na.nrrd,,m.json,o.dcm\n", "line 2, column 'dicom': empty"),
        ("labels,dicom,metadata,output\na.nrrd,ct,,o.dcm\n", "line 2, column 'metadata': empty; give the dcmqi JSON"),
        (
            "id,labels,dicom,metadata,output\nx,a,ct,m,o1\nx,b,ct,m,o2\n",
            "line 3, column 'id': 'x' is also the id of line 2",
        ),
        ("labels,dicom,metadata,output\na,ct,m,o.dcm\nb,ct,m,./o.dcm\n", "line 3, column 'output'"),
        ("labels,dicom,metadata,output\na.nrrd,ct,m,a.nrrd\n", "is also an input of this row"),
        ("labels,dicom,metadata,output,options\na,ct,m,o,--type bogus\n", "Invalid value for '--type'"),
        ("labels,dicom,metadata,output,options\na,ct,m,o,--colour red\n", "No such option: --colour"),
        ("labels,dicom,metadata,output,options\na,ct,m,o,--output x.dcm\n", "--output is given by the 'output' column"),
        ("labels,dicom,metadata,output,options\na,ct,m,o,extra.nrrd\n", "unexpected argument 'extra.nrrd'"),
        ('labels,dicom,metadata,output,options\na,ct,m,o,"--type \'binary"\n', "check its quotes"),
        ("seg,output,options\na.dcm,o,--reference ct\n", "--reference is given by the 'reference' column"),
    ],
)
def test_bad_manifests_are_one_line_naming_line_and_column(tmp_path, text, expected):
    path = _write(tmp_path / "bad.csv", text)
    with pytest.raises(ManifestError) as info:
        read_manifest(path)
    message = str(info.value)
    assert expected in message and "\n" not in message and "bad.csv" in message


def test_a_manifest_that_is_not_utf8_or_missing(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("labels,dicom,metadata,output\nd\xe9j\xe0.nrrd,ct,m,o\n".encode("latin-1"))
    with pytest.raises(ManifestError, match="not UTF-8"):
        read_manifest(path)
    with pytest.raises(ManifestError, match="cannot read manifest"):
        read_manifest(tmp_path / "none.csv")
    with pytest.raises(ManifestError, match="is a folder"):
        read_manifest(tmp_path)


def test_batch_wide_flags_are_checked_too(collection):
    root, cases = collection
    manifest = write_manifest(root / "m2.csv", itk2seg_rows(cases, root))
    with pytest.raises(ManifestError, match="batch-wide itk2seg flags '--deflate-level 99'"):
        read_manifest(manifest, ["--deflate-level", "99"])


def test_templates_find_each_id_and_write_a_manifest(collection, monkeypatch):
    root, cases = collection
    monkeypatch.chdir(root)
    templates = {"labels": "case{id}/lab.nrrd", "dicom": "case{id}/ct", "metadata": "meta.json", "output": "o/{id}.dcm"}
    plan = discover(templates)
    assert [j.id for j in plan.jobs] == ["0", "1", "2"]
    assert plan.jobs[2].output == str(root / "o" / "2.dcm") and str(cases[2]["ct"]) in plan.jobs[2].argv
    written = root / "sub" / "found.csv"
    written.parent.mkdir(exist_ok=True)
    assert write_plan(plan, written) == 3
    again = read_manifest(written)  # paths written relative to the manifest's folder, read back the same
    assert [j.argv for j in again.jobs] == [j.argv for j in plan.jobs]
    assert not any(name.startswith(".lm-") for name in os.listdir(written.parent))


@pytest.mark.parametrize(
    ("templates", "expected"),
    [
        ({"labels": "case{id}/lab.nrrd", "dicom": "case{id}/ct", "output": "o/{id}.dcm"}, "needs --metadata"),
        ({"labels": "case*/lab.nrrd", "dicom": "d", "metadata": "m", "output": "o"}, "needs exactly one {id}"),
        ({"labels": "nothing{id}.nrrd", "dicom": "d", "metadata": "m", "output": "o/{id}"}, "nothing matches"),
        (
            {"labels": "case{id}/lab.nrrd", "dicom": "case{id}/ct", "metadata": "meta.json", "output": "o.dcm"},
            "is also the output of",
        ),
    ],
)
def test_bad_templates(collection, monkeypatch, templates, expected):
    root, _ = collection
    monkeypatch.chdir(root)
    with pytest.raises(ManifestError, match=expected.replace("{", r"\{").replace("}", r"\}").replace("*", r"\*")):
        discover(templates)
