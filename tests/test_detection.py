"""coursekit.detection against independent references: IoU against boxes painted onto a pixel grid, NMS against the
properties that define its greedy result, YOLO decoding against a grid worked by hand."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coursekit.detection import batched_nms, box_area, box_iou, nms, yolo_decode


@st.composite
def integer_boxes(draw, n_min=1, n_max=8, side=20):
    n = draw(st.integers(n_min, n_max))
    boxes = []
    for _ in range(n):
        x1, y1 = draw(st.integers(0, side - 1)), draw(st.integers(0, side - 1))
        boxes.append([x1, y1, draw(st.integers(x1, side)), draw(st.integers(y1, side))])
    return np.array(boxes, dtype=float)


def painted(box, side=20):
    mask = np.zeros((side, side), dtype=bool)
    x1, y1, x2, y2 = box.astype(int)
    mask[y1:y2, x1:x2] = True
    return mask


@settings(max_examples=60, deadline=None)
@given(integer_boxes(), integer_boxes())
def test_iou_equals_the_overlap_of_the_painted_boxes(a, b):
    got = box_iou(a, b)
    for i, box_a in enumerate(a):
        for j, box_b in enumerate(b):
            pa, pb = painted(box_a), painted(box_b)
            union = (pa | pb).sum()
            assert got[i, j] == pytest.approx((pa & pb).sum() / union if union else 0.0, abs=1e-12)
    np.testing.assert_allclose(box_area(a), [painted(x).sum() for x in a])


def test_iou_of_the_worked_example():
    # two 10 x 10 boxes shifted by 5 in x: intersection 50, union 150
    assert box_iou([[0, 0, 10, 10]], [[5, 0, 15, 10], [20, 20, 30, 30], [0, 0, 10, 10]]).tolist() == [[1 / 3, 0, 1]]


@settings(max_examples=80, deadline=None)
@given(integer_boxes(n_max=12), st.data(), st.sampled_from([0.0, 0.3, 0.5, 0.7, 1.0]))
def test_nms_keeps_exactly_what_the_greedy_definition_keeps(boxes, data, threshold):
    scores = np.array(data.draw(st.lists(st.integers(0, 5), min_size=len(boxes), max_size=len(boxes))), float)
    keep = nms(boxes, scores, threshold)
    iou = box_iou(boxes, boxes)
    order = sorted(range(len(boxes)), key=lambda i: (-scores[i], i))    # best first, ties by position
    rank = {i: r for r, i in enumerate(order)}
    assert [rank[i] for i in keep] == sorted(rank[i] for i in keep)      # reported best first
    assert keep[0] == order[0]                                           # the best box always survives
    kept = set(keep.tolist())
    for i in range(len(boxes)):
        better_kept = [k for k in kept if rank[k] < rank[i]]
        overlapped = any(iou[i, k] > threshold for k in better_kept)
        # a box is kept exactly when no better kept box overlaps it above the threshold
        assert (i in kept) == (not overlapped), (i, keep, threshold)


def test_nms_on_the_lecture_example():
    boxes = [[10, 10, 50, 50], [12, 12, 52, 52], [60, 60, 90, 90], [11, 9, 49, 51]]
    assert nms(boxes, [0.9, 0.8, 0.7, 0.95], 0.5).tolist() == [3, 2]
    assert nms(boxes, [0.9, 0.8, 0.7, 0.95], 1.0).tolist() == [3, 0, 1, 2]


def test_batched_nms_never_suppresses_across_classes():
    boxes = [[0, 0, 10, 10], [1, 1, 10, 10], [0, 0, 10, 10]]
    assert batched_nms(boxes, [0.9, 0.8, 0.7], [0, 0, 1], 0.5).tolist() == [0, 2]
    assert batched_nms(np.zeros((0, 4)), [], np.zeros(0, int), 0.5).tolist() == []


def test_yolo_decode_of_a_grid_worked_by_hand():
    s, b, c = 2, 2, 3
    out = np.zeros((s, s, 5 * b + c))
    # cell (row 1, column 0), its second box: centre at the middle of the cell, a quarter of the image wide
    out[1, 0, 5:10] = [0.5, 0.5, 0.25, 0.5, 0.8]
    out[1, 0, 10:] = [0.1, 0.6, 0.3]
    boxes, scores = yolo_decode(out, b, image_size=(100, 200))            # height 100, width 200
    row = (1 * s + 0) * b + 1
    np.testing.assert_allclose(boxes[row], [50 - 25, 75 - 25, 50 + 25, 75 + 25])
    np.testing.assert_allclose(scores[row], [0.08, 0.48, 0.24])
    assert boxes.shape == (s * s * b, 4) and scores.shape == (s * s * b, c)
    assert np.count_nonzero(scores) == 3


@pytest.mark.parametrize("call, message", [
    (lambda: box_iou([[0, 0, 1]], [[0, 0, 1, 1]]), "boxes1 must have shape"),
    (lambda: box_iou([[0, 0, 1, 1]], [[2, 0, 1, 1]]), "boxes2\\[0\\]"),
    (lambda: nms([[0, 0, 1, 1]], [0.5, 0.2], 0.5), "scores must have shape \\(1,\\)"),
    (lambda: nms([[0, 0, 1, 1]], [0.5], 1.5), "iou_threshold"),
    (lambda: yolo_decode(np.zeros((7, 7, 10)), 2, 448), "num_boxes=2"),
    (lambda: yolo_decode(np.zeros((7, 6, 30)), 2, 448), "output must have shape"),
])
def test_bad_input_is_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def loop_nms(boxes, scores, threshold):
    """Greedy NMS written out with plain loops and a scalar IoU (the reference when torchvision is absent)."""
    def iou(a, b):
        w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
        h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
        union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
        return w * h / union if union > 0 else 0.0
    left = sorted(range(len(boxes)), key=lambda i: (-scores[i], i))
    keep = []
    while left:
        best = left.pop(0)
        keep.append(best)
        left = [i for i in left if iou(boxes[best], boxes[i]) <= threshold]
    return keep


@settings(max_examples=80, deadline=None)
@given(integer_boxes(n_max=12), st.data(), st.sampled_from([0.0, 0.3, 0.5, 0.7, 1.0]))
def test_nms_matches_a_plain_loop_and_torchvision_when_installed(boxes, data, threshold):
    scores = np.array(data.draw(st.lists(st.floats(0, 1), min_size=len(boxes), max_size=len(boxes),
                                         unique=True)), float)
    keep = nms(boxes, scores, threshold).tolist()
    assert keep == loop_nms(boxes.tolist(), scores.tolist(), threshold)
    try:
        import torch
        from torchvision.ops import box_iou as tv_iou
        from torchvision.ops import nms as tv_nms
    except ImportError:
        return
    b = torch.from_numpy(boxes)
    reference = tv_iou(b, b).numpy()
    np.testing.assert_allclose(box_iou(boxes, boxes), np.nan_to_num(reference), atol=1e-12)   # 0/0: torchvision nan
    assert keep == tv_nms(b, torch.from_numpy(scores), threshold).tolist()
