"""One source for the grading configuration: the course's nbgrader_config.py and the pipeline's command-line flags
are both made from ``coursekit.course.config.GradingConfig``, and say the same thing."""

import os
from pathlib import Path

import pytest

pytest.importorskip("nbgrader")

from traitlets.config.loader import KVArgParseConfigLoader  # noqa: E402

from coursekit.course.config import SERVER_ONLY_SECTIONS, GradingConfig, environment_overrides  # noqa: E402
from coursekit.course.pipeline import Course, load_nbgrader_config  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _plain(value):
    """A setting as comparable text: lists item by item, paths normalised, flags' deferred strings as strings."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    text = str(value)
    return os.path.normpath(text) if text.startswith("/") else text


def _parsed(flags):
    config = KVArgParseConfigLoader(flags).load_config()
    return {f"{section}.{trait}": value for section in config for trait, value in config[section].items()}


def test_the_course_config_file_and_the_flags_agree():
    course = Course(ROOT)
    grading = GradingConfig(course.course, course.release_dir, default_timeout=course.default_timeout())
    from_file = load_nbgrader_config(course.course)
    from_flags = {**_parsed(grading.arguments("autograde")), **_parsed(grading.arguments("generate_feedback"))}
    settings = grading.settings()
    assert settings, "no settings"
    for name, value in settings.items():
        section, trait = name.split(".")
        assert trait in from_file[section], f"course/nbgrader_config.py does not set {name}"
        assert _plain(from_file[section][trait]) == _plain(value), name
        if section in SERVER_ONLY_SECTIONS:  # the formgrader's, read by the Jupyter server from the file alone
            assert name not in from_flags, name
            continue
        flag = from_flags[name]
        if isinstance(value, list) and not isinstance(flag, list):  # a one-item list is one flag
            flag = [flag]
        assert _plain(flag) == _plain(value), name
    assert set(from_flags) == {name for name in settings if name.split(".")[0] not in SERVER_ONLY_SECTIONS}
    # the pages: feedback through coursekit's exporter, both with MathJax that stays on the machine
    assert settings["GenerateFeedback.exporter_class"] == "coursekit.course.feedback.FeedbackExporter"
    assert not settings["FeedbackExporter.mathjax_url"].startswith(("http:", "https:", "//"))
    assert settings["HTMLExporter.mathjax_url"].startswith("/static/jupyter_server_mathjax/")


def test_a_course_configured_for_stock_nbgrader_gets_every_setting_as_a_flag(tmp_path):
    (tmp_path / "source" / "ps1").mkdir(parents=True)
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\nc.CourseDirectory.course_id = 'x'\n")
    course = Course(tmp_path)
    assert not course.coursekit_configured
    flags = _parsed(course.grading_arguments("autograde", jobs=3))
    assert flags["Autograde.autograde_preprocessors"][0] == "coursekit.course.execute.ExecuteAndJudge"
    assert _plain(flags["ExecuteAndJudge.kernels_side_by_side"]) == "3"
    assert _plain(flags["ExecuteAndJudge.course_directory"]) == str(tmp_path)


def test_the_instructors_limits_are_read_once_and_travel_as_flags(monkeypatch):
    monkeypatch.setenv("COURSEKIT_TREE_MEMORY_BYTES", str(2 << 30))
    monkeypatch.setenv("COURSEKIT_MAX_PROCESSES", "32")
    monkeypatch.setenv("COURSEKIT_NO_SANDBOX", "1")
    assert environment_overrides() == {"tree_memory_bytes": 2 << 30, "max_processes": 32, "require_sandbox": False}
    flags = Course(ROOT).grading_arguments("autograde")
    assert f"--ExecuteAndJudge.tree_memory_bytes={2 << 30}" in flags and "--ExecuteAndJudge.max_processes=32" in flags
    assert "--ExecuteAndJudge.require_sandbox=False" in flags
    with pytest.raises(ValueError, match="COURSEKIT_MAX_PROCESSES"):
        environment_overrides({"COURSEKIT_MAX_PROCESSES": "lots"})


def test_nothing_in_the_grader_reads_the_environment_but_the_one_place():
    """COURSEKIT_* variables are read in config.environment_overrides only (the kernel's grading folder in
    coursekit.grading.wire is the one setting that crosses into the kernel)."""
    import re

    for path in sorted((ROOT / "coursekit" / "course").glob("*.py")):
        text = path.read_text()
        reads = re.findall(r"environ\.get\([\"'](COURSEKIT_[A-Z_]+)", text) + re.findall(
            r"environ\[[\"'](COURSEKIT_[A-Z_]+)[\"']\](?!\s*=)", text)
        if path.name == "config.py":
            continue
        assert not reads, f"{path.name} reads {reads} from the environment"
