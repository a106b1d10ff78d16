"""The launcher's flag table and stored help equal what the typer app defines and renders (they cannot drift)."""

from __future__ import annotations

import inspect

import typer

from labelmap.cli import app as cli_app
from labelmap.cli import flags, hints, launch


def test_stored_table_equals_the_one_generated_from_the_typer_app():
    assert flags.table() == flags.COMMANDS


def test_every_hot_command_is_in_the_table():
    """A hot command whose flags the table could not represent would silently always take the slow path."""
    assert set(flags.COMMANDS) == set(flags.HOT) == set(launch.BODIES)


def test_stored_help_equals_typer_rendering_it_live():
    assert flags.render_help() == flags.HELP_LINES
    assert flags.help_text().endswith("╯\n\n")
    assert all(len(line) <= flags.HELP_WIDTH for line in flags.HELP_LINES)


def test_generated_source_evaluates_to_the_stored_values():
    """What ``python -m labelmap.cli.flags`` writes is valid Python holding the same table and help."""
    namespace: dict = {"Param": flags.Param}
    exec(flags.generated_source(), namespace)
    assert namespace["COMMANDS"] == flags.COMMANDS
    assert namespace["HELP_LINES"] == flags.HELP_LINES


def test_bodies_take_the_typer_commands_parameters():
    """The launcher calls each body with the table's names; the typer command has the same parameters."""
    import importlib

    group = typer.main.get_command(cli_app.app)
    for name, (module, function) in launch.BODIES.items():
        body = getattr(importlib.import_module(module), function)
        names = [p.name for p in flags.COMMANDS[name]]
        assert list(inspect.signature(body).parameters) == names
        assert [p.name for p in group.commands[name].params] == names


def test_hint_families_match_the_app():
    for name, family in cli_app.COMMANDS.items():
        assert (family.HINT_TEXT is hints.DCMQI) == (name in hints.DCMQI_COMMANDS)


def test_table_kinds():
    """Spot checks of the generated entries against the flags the README documents."""
    seg2itk = {p.name: p for p in flags.COMMANDS["seg2itk"]}
    assert seg2itk["seg"].opts == () and seg2itk["seg"].required and seg2itk["seg"].kind == "path"
    assert seg2itk["output_dir"].opts == ("--output-dir", "-o")
    assert seg2itk["fmt"].choices == ("nrrd", "nifti", "segnrrd", "ome-tiff") and seg2itk["fmt"].default is None
    assert seg2itk["reference"].multiple and seg2itk["reference"].default is None
    itk2seg = {p.name: p for p in flags.COMMANDS["itk2seg"]}
    assert itk2seg["labels"].multiple and itk2seg["labels"].opts == ()
    assert (itk2seg["deflate_level"].low, itk2seg["deflate_level"].high, itk2seg["deflate_level"].default) == (1, 9, 6)
    assert itk2seg["seg_type"].default == "auto" and itk2seg["quiet"].kind == "flag"
    assert itk2seg["tolerance"].kind == "float" and itk2seg["tolerance"].low == 0.0
