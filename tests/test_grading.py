"""coursekit.grading: messages students can act on, references that cannot stand in, tampering that shows."""

import numpy as np
import pytest

from coursekit import grading
from coursekit.arithmetic import conv_output_size
from coursekit.nn import functional as F


def test_assert_close_names_shape_and_worst_element():
    with pytest.raises(AssertionError, match=r"has shape \(2, 3\), expected \(3, 2\)"):
        grading.assert_close(np.zeros((2, 3)), np.zeros((3, 2)), "dx")
    wrong = np.zeros((3, 4))
    wrong[1, 2] = 0.5
    with pytest.raises(AssertionError, match=r"dx is wrong at 1 of 12 entries; worst at index \(1, 2\)"):
        grading.assert_close(wrong, np.zeros((3, 4)), "dx")
    with pytest.raises(AssertionError, match="NaN or inf"):
        grading.assert_close(np.array([np.nan]), np.array([0.0]))
    with pytest.raises(AssertionError, match="is None"):
        grading.assert_close(None, np.zeros(2))
    grading.assert_close(np.ones(3) + 1e-12, np.ones(3))


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


def test_reference_disabled_catches_every_way_of_calling_the_reference():
    from coursekit.arithmetic import conv_output_size as imported_early  # a name bound before the test

    def student_answer(n, k):
        return imported_early(n, k)

    def student_answer_via_module(x, w):
        return F.conv2d_forward(x, w)[0]

    with grading.reference_disabled():
        with pytest.raises(grading.ReferenceUnavailable, match="disabled"):
            student_answer(8, 3)
        with pytest.raises(grading.ReferenceUnavailable):
            student_answer_via_module(np.ones((1, 1, 4, 4)), np.ones((1, 1, 3, 3)))
    assert conv_output_size(8, 3) == 6  # restored afterwards
    assert F.conv2d_forward(np.ones((1, 1, 4, 4)), np.ones((1, 1, 3, 3)))[0].shape == (1, 1, 2, 2)


def test_reference_disabled_blocks_torch_convolution():
    torch = pytest.importorskip("torch")
    with grading.reference_disabled():
        with pytest.raises(grading.ReferenceUnavailable):
            torch.nn.functional.conv2d(torch.ones(1, 1, 3, 3), torch.ones(1, 1, 2, 2))
    assert torch.nn.functional.conv2d(torch.ones(1, 1, 3, 3), torch.ones(1, 1, 2, 2)).shape == (1, 1, 2, 2)


def test_reference_disabled_for_pytorch_assignments_blocks_coursekit_models_but_not_torch():
    torch = pytest.importorskip("torch")
    from coursekit.metrics import dice_score
    from coursekit.models import UNet
    from coursekit.models.unet import center_crop

    class Subclassed(UNet):  # an "own" UNet that inherits the reference forward
        pass

    model, x = Subclassed(1, 1, base_channels=2, depth=1), torch.zeros(1, 1, 8, 8)
    with grading.reference_disabled(allow_torch=True):
        assert torch.nn.functional.conv2d(torch.ones(1, 1, 3, 3), torch.ones(1, 1, 2, 2)).shape == (1, 1, 2, 2)
        for call in (lambda: center_crop(x, 4, 4), lambda: model(x), lambda: dice_score(x > 0, x > 0)):
            with pytest.raises(grading.ReferenceUnavailable):
                call()
    assert model(x).shape == (1, 1, 8, 8) and dice_score(x > 0, x > 0) == 1.0  # restored afterwards


def test_comparisons_read_torch_tensors_that_require_grad_and_meta_shapes():
    torch = pytest.importorskip("torch")
    x = torch.ones(2, 3, requires_grad=True)
    grading.assert_close(x * 2, np.full((2, 3), 2.0), "doubled")
    with pytest.raises(AssertionError, match="worst at index"):
        grading.assert_close(x * 2, np.full((2, 3), 3.0), "doubled")
    grading.assert_shape(torch.empty(4, 5, device="meta"), (4, 5), "meta tensor")
    with pytest.raises(AssertionError, match=r"has shape \(4, 5\), expected \(5, 4\)"):
        grading.assert_shape(torch.empty(4, 5, device="meta"), (5, 4), "meta tensor")


def test_sentinel_detects_monkeypatching(monkeypatch):
    monkeypatch.setattr(grading, "_sentinel", None)
    grading.install_sentinel()
    grading.verify()
    monkeypatch.setattr(np.testing, "assert_allclose", lambda *a, **k: None)
    with pytest.raises(grading.TamperingDetected, match="numpy.testing.assert_allclose"):
        grading.verify()
    with pytest.raises(grading.TamperingDetected):
        grading.assert_close(np.zeros(2), np.ones(2))
    monkeypatch.undo()
    monkeypatch.setattr(grading, "_sentinel", None)


def test_fingerprints_are_stable_after_a_failing_test():
    pytest.importorskip("nbgrader")
    from coursekit.course.plugins import fingerprints

    before = fingerprints()
    with pytest.raises(AssertionError):
        grading.assert_scalar(1, 2)
    assert fingerprints() == before
