"""coursekit.exercises: the verdicts a lecture's write-it-yourself check prints, and the function it hands back."""

import numpy as np

from coursekit import exercises


def reference(x, k):
    return np.convolve(x, k[::-1], mode="valid")


def cases():
    return [(np.arange(5.0), np.array([1.0, -1.0]))] + exercises.random_cases(
        lambda rng: (rng.normal(size=int(rng.integers(3, 9))), rng.normal(size=2)), n=4, seed=1)


def test_a_correct_function_passes_and_is_kept(capsys):
    def mine(x, k):
        return np.array([x[i:i + len(k)] @ k for i in range(len(x) - len(k) + 1)])

    assert exercises.check(mine, reference, cases(), name="corr1d") is mine
    assert capsys.readouterr().out.startswith("PASS  corr1d matches the reference on all 5 cases")


def test_a_stub_falls_back_to_the_reference_and_says_so(capsys):
    def stub(x, k):
        raise NotImplementedError

    assert exercises.check(stub, reference, cases(), name="corr1d") is reference
    assert capsys.readouterr().out.startswith("NOT ATTEMPTED  corr1d")


def test_the_first_wrong_element_is_named():
    def flipped(x, k):
        return np.convolve(x, k, mode="valid")  # convolution, not correlation

    assert exercises.check(flipped, reference, cases(), name="corr1d") is reference
    assert exercises.check.last.startswith("FAIL  corr1d, case 1 of 5")
    assert "at index (0,) is 1, expected -1 (4 of 4 entries wrong)" in exercises.check.last


def test_only_the_example_on_the_page_does_not_pass():
    fixed = cases()[0]

    def memorised(x, k):
        return reference(*fixed)

    exercises.check(memorised, reference, cases(), name="corr1d")
    assert exercises.check.last.startswith("FAIL  corr1d, case 2 of 5")


def test_wrong_shapes_crashes_and_none_are_verdicts():
    assert exercises.check(lambda x, k: x, reference, cases(), name="f") is reference
    assert "has shape (5,), expected (4,)" in exercises.check.last
    exercises.check(lambda x, k: None, reference, cases(), name="f")
    assert "is None (did the function return its result?)" in exercises.check.last
    exercises.check(lambda x, k: 1 / 0, reference, cases(), name="f")
    assert "raised ZeroDivisionError" in exercises.check.last
    exercises.check(lambda x, k: (1, 2), lambda x, k: (1, 2, 3), cases(), name="f")
    assert "should be 3 values, got 2" in exercises.check.last


def test_check_value():
    assert exercises.check_value(..., 3, "the output width") is None  # a last line shows its verdict, no False
    assert exercises.check.last.startswith("NOT ATTEMPTED")
    exercises.check_value(3, 3, "the output width")
    assert exercises.check.last == "PASS  the output width."
    exercises.check_value(4, 3, "the output width")
    assert exercises.check.last == "FAIL  the output width: the result is 4, expected 3."


def test_check_value_takes_several_answers_and_a_half_filled_tuple_is_not_attempted():
    exercises.check_value((150, ...), (150, 10), "Exercise 1.1")
    assert exercises.check.last.startswith("NOT ATTEMPTED  Exercise 1.1")
    exercises.check_value((150, 9), (150, 10), "Exercise 1.1")
    assert exercises.check.last == "FAIL  Exercise 1.1: the result[1] is 9, expected 10."
    exercises.check_value((150, 10), (150, 10), "Exercise 1.1")
    assert exercises.check.last == "PASS  Exercise 1.1."
    exercises.check_value([[1, -1], [0, 1]], np.array([[1, -1], [0, 1]]), "C")
    assert exercises.check.last == "PASS  C."


def test_checked_prints_a_claim_that_holds_and_fails_one_that_does_not(capsys):
    import pytest

    exercises.checked("3 x 3 convolutions stacked twice see 5 x 5", 1 + 2 * 2 == 5)
    assert capsys.readouterr().out == "checked: 3 x 3 convolutions stacked twice see 5 x 5\n"
    with pytest.raises(AssertionError, match="claims that two is three"):
        exercises.checked("two is three", 2 == 3)
