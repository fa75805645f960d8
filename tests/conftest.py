import os

import pytest

# nbgrader's own notebooks, shipped as test data for tests/test_foreign_course.py: graded there, never collected by
# nbval (they are submissions with unanswered cells, not notebooks meant to run top to bottom)
collect_ignore = ["data"]

try:
    from hypothesis import HealthCheck, settings

    settings.register_profile("ci", deadline=None, max_examples=60, derandomize=True,
                              suppress_health_check=[HealthCheck.too_slow])
    settings.register_profile("dev", deadline=None, max_examples=25)
    settings.register_profile("thorough", deadline=None, max_examples=1000)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
except ImportError:  # hypothesis is a dev dependency; the numpy-only tests run without it
    pass


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def pytest_collection_modifyitems(config, items):
    skip_gpu = pytest.mark.skip(reason="needs CUDA; no GPU visible")
    has_cuda = None
    for item in items:
        if item.nodeid.endswith(".ipynb") or ".ipynb::" in item.nodeid:
            item.add_marker(pytest.mark.notebooks)
        if "gpu" in item.keywords:
            if has_cuda is None:
                has_cuda = _cuda_available()
            if not has_cuda:
                item.add_marker(skip_gpu)


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory):
    """The representative sample submissions graded once per test session, as `make course` grades them (the
    slowest thing the suite does: every test of graded samples shares it)."""
    pytest.importorskip("nbgrader")
    from course_helpers import grade_samples

    from coursekit.course.sandbox import available

    if not available():
        pytest.skip("bubblewrap cannot sandbox kernels here; autograding refuses without it")
    return grade_samples(tmp_path_factory.mktemp("samples") / "coursekit")
