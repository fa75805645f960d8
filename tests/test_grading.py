"""coursekit.grading (kernel side) and coursekit.course.checks (grader side): the wire between them, the
comparisons, and the self-check helpers students read."""

import os

import numpy as np
import pytest

from coursekit import grading


def test_assert_close_names_shape_and_worst_element():
    with pytest.raises(AssertionError, match=r"dx: got shape \(2, 3\), expected shape \(3, 2\)"):
        grading.assert_close(np.zeros((2, 3)), np.zeros((3, 2)), "dx")
    wrong = np.zeros((3, 4))
    wrong[1, 2] = 0.5
    with pytest.raises(AssertionError, match=r"dx: wrong at 1 of 12 entries; worst at index \(1, 2\)"):
        grading.assert_close(wrong, np.zeros((3, 4)), "dx")
    with pytest.raises(AssertionError, match="NaN or inf"):
        grading.assert_close(np.array([np.nan]), np.array([0.0]))
    with pytest.raises(AssertionError, match="None"):
        grading.assert_close(None, np.zeros(2))
    grading.assert_close(np.ones(3) + 1e-12, np.ones(3))


@pytest.mark.parametrize("got, want", [
    (np.zeros((2, 3)), np.zeros((3, 2))), (np.array([np.nan, 1.0]), np.array([0.0, 1.0])),
    (np.array([np.inf]), np.array([-np.inf])), (np.array([1.0]), np.array([np.nan])), (None, np.zeros(2)),
    ("1.0", 1.0), (np.array([1 + 1j]), np.array([1.0])), (np.array([1.0, 2.5]), np.array([1.0, 2.0])),
    (np.array([np.nan, np.inf, 1.0]), np.array([np.nan, np.inf, 1.0])), (np.zeros(0), np.zeros(0)),
])
def test_the_kernels_visible_checks_and_the_grader_compare_alike(got, want):
    """One comparison on both sides of the wall: the same verdict and the same words, NaN and inf included."""
    from coursekit.course.judging import compare

    problem = compare(got, want, "dx")
    try:
        grading.assert_close(got, want, "dx")
        raised = None
    except AssertionError as exc:
        raised = str(exc)
    assert raised == problem
    matching = got is not None and not isinstance(got, str) and np.shape(got) == np.shape(want) and np.array_equal(
        np.asarray(got), np.asarray(want), equal_nan=True)
    assert (problem is None) == matching


def test_assert_scalar():
    grading.assert_scalar(28, 28, "size")
    with pytest.raises(AssertionError, match="size is 29, expected 28"):
        grading.assert_scalar(29, 28, "size")
    with pytest.raises(AssertionError, match="should be an int"):
        grading.assert_scalar(28.0, 28, "size")


def test_rng_is_seeded_by_test_name():
    a, b = grading.rng("t1").random(3), grading.rng("t1").random(3)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, grading.rng("t2").random(3))


def test_comparisons_read_torch_tensors_that_require_grad_and_meta_shapes():
    torch = pytest.importorskip("torch")
    x = torch.ones(2, 3, requires_grad=True)
    grading.assert_close(x * 2, np.full((2, 3), 2.0), "doubled")
    with pytest.raises(AssertionError, match="worst at index"):
        grading.assert_close(x * 2, np.full((2, 3), 3.0), "doubled")
    grading.assert_shape(torch.empty(4, 5, device="meta"), (4, 5), "meta tensor")
    with pytest.raises(AssertionError, match=r"has shape \(4, 5\), expected \(5, 4\)"):
        grading.assert_shape(torch.empty(4, 5, device="meta"), (5, 4), "meta tensor")


def test_objects_with_behaviour_never_cross_the_wire():
    class Sneaky(float):
        def __eq__(self, other):
            return True

    for bad in (np.array([object()], dtype=object), np.array(["a"]), {1: 2}, lambda: 0, 1j, {"x": [set()]}):
        with pytest.raises(grading.WireError):
            grading.encode_value(bad)
    back = grading.decode_value(grading.encode_value([Sneaky(1.0)]))[0]  # travels as the plain float it holds
    assert type(back) is float and back == 1.0 and back != 2.0
    # a crafted file: a pickled object array inside the npz is refused, not unpickled
    import io
    buffer = io.BytesIO()
    np.savez(buffer, __json__=np.frombuffer(b'{"__array__": "a0"}', dtype=np.uint8),
             a0=np.array([{"evil": 1}], dtype=object))
    with pytest.raises(grading.WireError):
        grading.decode_value(buffer.getvalue())
    with pytest.raises(grading.WireError):
        grading.decode_value(b"not a zip at all")


def test_torch_tensors_become_numpy_arrays():
    torch = pytest.importorskip("torch")
    back = grading.decode_value(grading.encode_value({"t": torch.ones(2, 2, requires_grad=True) * 3}))
    assert isinstance(back["t"], np.ndarray) and back["t"].dtype == np.float32 and np.all(back["t"] == 3)


def test_cases_answer_record_round_trip(tmp_path, monkeypatch):
    from coursekit.course.answers import read_answers, read_records, write_cases
    from coursekit.course.judging import Missing, Raised

    monkeypatch.delenv(grading.GRADING_DIR_ENV, raising=False)
    with pytest.raises(RuntimeError, match="only while the notebook is being graded"):
        grading.cases("a0-test")
    grading.answer("a0-test", lambda c: 1 / 0)  # outside grading: nothing, and no exception
    cases = [{"x": np.arange(3.0), "k": 2}, {"x": np.ones(2), "k": 0}, {"x": np.zeros(1), "k": -1}]
    write_cases(tmp_path, "a0-test", cases)
    (tmp_path / "answers").mkdir()
    monkeypatch.setenv(grading.GRADING_DIR_ENV, str(tmp_path))
    got = grading.cases("a0-test")
    assert len(got) == 3 and np.array_equal(got[0]["x"], np.arange(3.0)) and got[1]["k"] == 0

    def student(case):
        if case["k"] < 0:
            raise ValueError("k must be >= 0")
        return case["x"] * case["k"], {"note": "ok"}

    grading.answer("a0-test", student)
    grading.record("a0-test", "history", [0.5, 0.25])
    with pytest.raises(grading.WireError):
        grading.record("a0-test", "model", object())
    answers = read_answers(tmp_path, "a0-test", 4)  # one more than answered: Missing
    assert np.array_equal(answers[0][0], np.arange(3.0) * 2) and answers[0][1] == {"note": "ok"}
    assert answers[2] == Raised("ValueError", "k must be >= 0") and answers[3] is Missing
    assert read_records(tmp_path, "a0-test") == {"history": [0.5, 0.25]}


def test_answers_are_read_without_following_links(tmp_path):
    from coursekit.course.answers import read_answers, write_cases
    from coursekit.course.judging import Missing

    secret = tmp_path / "gradebook.db"
    secret.write_bytes(grading.encode_value({"value": "the grader's own file"}))
    grading_dir = tmp_path / "scratch"
    write_cases(grading_dir, "a0-test", [{}, {}, {}])
    answers = grading_dir / "answers" / "a0-test"
    answers.mkdir(parents=True)
    (answers / "0.npz").symlink_to(secret)                     # a link to a file outside
    os.mkfifo(answers / "1.npz")                               # a FIFO would block a naive reader
    (answers / "2.npz").write_bytes(b"\0" * 1024)               # garbage
    assert read_answers(grading_dir, "a0-test", 3) == [Missing] * 3
    (grading_dir / "answers" / "a0-link").symlink_to(answers)  # a linked folder is not followed either
    (answers / "0.npz").unlink()
    (answers / "0.npz").write_bytes(grading.encode_value({"value": 1}))
    assert read_answers(grading_dir, "a0-link", 1) == [Missing]
    assert read_answers(grading_dir, "a0-test", 1) == [1]


def test_compare_converts_first_and_says_what_is_wrong():
    from coursekit.course.judging import Missing, Raised, compare

    assert compare([1.0, 2.0], np.array([1.0, 2.0]), "out") is None
    assert "shape (2,)" in compare(np.zeros(2), np.zeros(3), "out") and "shape (3,)" in compare(
        np.zeros(2), np.zeros(3), "out")
    message = compare(np.array([0.0, 1.0, 5.0]), np.array([0.0, 1.0, 2.0]), "dx")
    assert message.startswith("dx: wrong at 1 of 3 entries; worst at index (2,)") and "expected 2" in message
    assert "raised ValueError: bad" in compare(Raised("ValueError", "bad"), np.zeros(2), "dx")
    assert "no answer" in compare(Missing, np.zeros(2), "dx")
    assert "not numbers" in compare("1.0", np.zeros(()), "loss")
    assert "None" in compare(None, np.zeros(2), "dx")
    assert "NaN" in compare(np.array([np.nan, 0.0]), np.zeros(2), "dx")
    assert "shape" in compare([[1, 2], [3]], np.zeros(2), "ragged")  # a ragged list is not numbers


def test_verdict_is_a_fraction():
    from coursekit.course.judging import Verdict

    assert Verdict(0.5, "half").score == 0.5
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="fraction"):
            Verdict(bad, "x")


def test_seeds_are_secret_per_student_and_cell(tmp_path):
    from coursekit.course.seeds import course_secret, seed_for

    secret = course_secret(tmp_path)
    assert course_secret(tmp_path) == secret and oct((tmp_path / "grading_secret").stat().st_mode)[-3:] == "600"
    seeds = {seed_for(secret, s, "a1", g) for s in ("ann", "bob") for g in ("a1-x", "a1-y")}
    assert len(seeds) == 4
    assert seed_for(secret, "ann", "a1", "a1-x") != seed_for(b"other", "ann", "a1", "a1-x")


def test_kernel_view_replaces_hidden_names_by_stubs(tmp_path):
    pytest.importorskip("torch", reason="the grader filters the package's MNIST copy through coursekit.data (torch)")
    from coursekit.course.package_view import build_view

    view = build_view({"coursekit.arithmetic": ["conv_output_size"],
                       "coursekit.nn.functional.batchnorm": ["batchnorm_forward"]}, cache_root=tmp_path)
    text = (view / "arithmetic.py").read_text()
    assert "def conv_output_size(*args, **kwargs):\n    raise NotImplementedError" in text
    assert "dilation * (kernel_size - 1)" not in text                     # the formula is gone, not disabled
    assert "def pool_output_size" in text                                  # the rest is untouched
    assert not (view / "course").exists()                                  # no grader-side tooling
    originals = {p.name for p in (view.parent.parent.parent).rglob("*.pyc")}
    assert all(".cpython-" in name for name in originals)                  # bytecode of the view only
    import compileall  # noqa: F401 - the view's bytecode was compiled from the rewritten source:
    pyc = next((view / "__pycache__").glob("arithmetic.*.pyc")).read_bytes()
    assert b"kernel_size - 1" not in pyc and b"not available while grading" in pyc
    with pytest.raises(ValueError, match="defines no top-level no_such_function"):
        build_view({"coursekit.arithmetic": ["no_such_function"]}, cache_root=tmp_path)
