"""Boxes for object detection (Lecture 6 §9): overlap, non-maximum suppression, and a YOLO-style grid decoded.

    box_area        (N, 4) -> (N,)
    box_iou         every pair of two box sets: (N, 4), (M, 4) -> (N, M) intersection over union
    nms             greedy non-maximum suppression: indices of the boxes kept, best score first
    batched_nms     the same, class by class (a box only suppresses boxes of its own class)
    yolo_decode     an (S, S, 5B + C) grid output -> S*S*B boxes in pixels with class-specific scores

A box is (x1, y1, x2, y2): its top-left and bottom-right corners in pixels, x1 <= x2 and y1 <= y2, the convention
of torchvision.ops. NumPy only; every function takes array-likes and returns arrays.
"""

from __future__ import annotations

import numpy as np

__all__ = ["box_area", "box_iou", "nms", "batched_nms", "yolo_decode"]


def _boxes(boxes, name: str) -> np.ndarray:
    b = np.asarray(boxes, dtype=np.float64)
    if b.ndim == 1 and b.shape == (4,):
        b = b[None]
    if b.ndim != 2 or b.shape[1] != 4:
        raise ValueError(f"{name} must have shape (N, 4) as (x1, y1, x2, y2), got {b.shape}")
    if not np.isfinite(b).all():
        raise ValueError(f"{name} must be finite")
    if (b[:, 2] < b[:, 0]).any() or (b[:, 3] < b[:, 1]).any():
        bad = int(np.flatnonzero((b[:, 2] < b[:, 0]) | (b[:, 3] < b[:, 1]))[0])
        raise ValueError(f"{name}[{bad}] = {b[bad].tolist()} has x2 < x1 or y2 < y1 (corners are x1, y1, x2, y2)")
    return b


def box_area(boxes) -> np.ndarray:
    """(N, 4) -> (N,): (x2 - x1) * (y2 - y1)."""
    b = _boxes(boxes, "boxes")
    return (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])


def box_iou(boxes1, boxes2) -> np.ndarray:
    """(N, 4), (M, 4) -> (N, M): |A and B| / |A or B| for every pair; 0 where both boxes have zero area.

    The intersection of two boxes is the box between the larger top-left and the smaller bottom-right corner,
    empty (area 0) when those cross.
    """
    a, b = _boxes(boxes1, "boxes1"), _boxes(boxes2, "boxes2")
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])                 # N, M, 2
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])             # N, M, 2
    inter = np.clip(bottom_right - top_left, 0, None).prod(axis=2)        # N, M
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def nms(boxes, scores, iou_threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression, as torchvision.ops.nms: take the best-scoring box left, drop every remaining
    box whose IoU with it is above iou_threshold, repeat. Ties keep the earlier box.

    boxes: (N, 4); scores: (N,). Returns int64 indices of the kept boxes, in decreasing order of score.
    """
    b = _boxes(boxes, "boxes")
    s = np.asarray(scores, dtype=np.float64)
    if s.shape != (len(b),):
        raise ValueError(f"scores must have shape ({len(b)},) for boxes {b.shape}, got {s.shape}")
    if not 0.0 <= iou_threshold <= 1.0:
        raise ValueError(f"iou_threshold must be in [0, 1], got {iou_threshold}")
    order = np.argsort(-s, kind="stable")
    iou = box_iou(b, b)
    keep, suppressed = [], np.zeros(len(b), dtype=bool)
    for i in order:
        if suppressed[i]:
            continue
        keep.append(i)
        suppressed |= iou[i] > iou_threshold
    return np.array(keep, dtype=np.int64)


def batched_nms(boxes, scores, classes, iou_threshold: float) -> np.ndarray:
    """nms within each class: boxes of different classes never suppress each other (torchvision's batched_nms).

    classes: (N,) integer labels. Returns int64 indices of the kept boxes, in decreasing order of score.
    """
    b = _boxes(boxes, "boxes")
    c = np.asarray(classes)
    s = np.asarray(scores, dtype=np.float64)
    if c.shape != (len(b),) or s.shape != (len(b),):
        raise ValueError(f"scores and classes must have shape ({len(b)},), got {s.shape} and {c.shape}")
    kept = np.concatenate([np.flatnonzero(c == label)[nms(b[c == label], s[c == label], iou_threshold)]
                           for label in np.unique(c)] or [np.zeros(0, dtype=np.int64)])
    return kept[np.argsort(-s[kept], kind="stable")].astype(np.int64)


def yolo_decode(output, num_boxes: int, image_size) -> tuple[np.ndarray, np.ndarray]:
    """Decode a YOLO (v1; Redmon et al., 2016) grid output into boxes in pixels and class-specific scores.

    output: (S, S, 5 * num_boxes + C). Cell (row i, column j) holds, for each of its num_boxes boxes, (x, y, w, h,
    confidence) and then C class probabilities shared by its boxes: x, y are the box centre's offset inside the cell
    (0 to 1, from its top-left corner), w, h the box size as fractions of the image, confidence Pr(object) * IoU.
    image_size: an int or (height, width) in pixels.

    Returns (boxes (S*S*num_boxes, 4) as x1, y1, x2, y2 in pixels, scores (S*S*num_boxes, C)), where score =
    confidence * Pr(class | object), the quantity YOLO thresholds at test time; rows run over cells in row-major
    order, then over the boxes of a cell.
    """
    out = np.asarray(output, dtype=np.float64)
    if out.ndim != 3 or out.shape[0] != out.shape[1]:
        raise ValueError(f"output must have shape (S, S, 5 * num_boxes + C), got {out.shape}")
    if not isinstance(num_boxes, (int, np.integer)) or num_boxes < 1 or out.shape[2] <= 5 * num_boxes:
        raise ValueError(f"num_boxes={num_boxes!r} does not fit an output of depth {out.shape[2]} "
                         f"(5 * num_boxes + C with C >= 1)")
    height, width = (image_size, image_size) if np.isscalar(image_size) else image_size
    s = out.shape[0]
    boxes_part = out[..., :5 * num_boxes].reshape(s, s, num_boxes, 5)     # S, S, B, (x, y, w, h, conf)
    class_probs = out[..., 5 * num_boxes:]                                # S, S, C
    cols, rows = np.meshgrid(np.arange(s), np.arange(s))                  # S, S: column j, row i of each cell
    cx = (cols[..., None] + boxes_part[..., 0]) / s * width               # S, S, B
    cy = (rows[..., None] + boxes_part[..., 1]) / s * height
    w, h = boxes_part[..., 2] * width, boxes_part[..., 3] * height
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=-1).reshape(-1, 4)
    scores = (boxes_part[..., 4:5] * class_probs[:, :, None, :]).reshape(-1, class_probs.shape[-1])
    return boxes, scores
