"""The synthetic facial-keypoints data set of lecture 7 and the flip that must move the keypoints with the image."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from coursekit.data.keypoints import (  # noqa: E402
    FLIP_PAIRS,
    KEYPOINT_NAMES,
    SyntheticFaceKeypoints,
    hflip_keypoints,
)


def test_samples_are_seeded_shaped_and_inside_the_image():
    data = SyntheticFaceKeypoints(40, size=32, seed=3)
    image, keypoints = data[7]
    assert image.shape == (1, 32, 32) and image.dtype == torch.float32
    assert keypoints.shape == (30,) and len(KEYPOINT_NAMES) == 15
    again = SyntheticFaceKeypoints(8, size=32, seed=3)[7]       # same sample whatever the set's size
    assert torch.equal(image, again[0]) and torch.equal(keypoints, again[1])
    assert not torch.equal(keypoints, SyntheticFaceKeypoints(8, size=32, seed=4)[7][1])
    everything = torch.stack([data[i][1] for i in range(len(data))])
    assert everything.abs().max() < 0.9
    with pytest.raises(IndexError):
        data[40]
    with pytest.raises(ValueError, match="size"):
        SyntheticFaceKeypoints(4, size=8)


def test_keypoints_sit_on_the_drawn_parts():
    # eye and nose are drawn darker than the skin just below the eyes (a cheek point between eye and mouth)
    data = SyntheticFaceKeypoints(30, size=48, seed=0)
    for i in range(len(data)):
        image, points = data.sample(i)
        value = {name: image[int(y), int(x)] for name, (x, y) in zip(KEYPOINT_NAMES, points)}
        cheek_x, cheek_y = (points[0] + points[11]) / 2 + np.array([0.0, 0.0])
        cheek = image[int(cheek_y), int(cheek_x)]
        assert value["left_eye_center"] < cheek - 0.1 and value["right_eye_center"] < cheek - 0.1
        assert value["nose_tip"] < cheek - 0.05


def test_flip_mirrors_the_image_and_swaps_the_pairs():
    data = SyntheticFaceKeypoints(50, seed=1)
    images = torch.stack([data[i][0] for i in range(50)])
    keypoints = torch.stack([data[i][1] for i in range(50)])
    flipped, moved = hflip_keypoints(images, keypoints)
    assert torch.equal(flipped, images.flip(-1))
    points, moved = keypoints.reshape(50, 15, 2), moved.reshape(50, 15, 2)
    for left, right in FLIP_PAIRS:
        assert torch.equal(moved[:, left, 0], -points[:, right, 0])
        assert torch.equal(moved[:, left, 1], points[:, right, 1])
    # the left eye stays on the image's left after a correct flip, and lands on the right after a naive one
    assert (moved[:, 0, 0] < moved[:, 1, 0]).all()
    naive = hflip_keypoints(images, keypoints, swap=False)[1].reshape(50, 15, 2)
    assert (naive[:, 0, 0] > naive[:, 1, 0]).all()
    twice = hflip_keypoints(*hflip_keypoints(images, keypoints))
    assert torch.equal(twice[0], images) and torch.equal(twice[1], keypoints)


def test_flip_rejects_wrong_shapes():
    with pytest.raises(ValueError, match="keypoints.*30"):
        hflip_keypoints(torch.zeros(1, 8, 8), torch.zeros(28))
    with pytest.raises(ValueError, match="image"):
        hflip_keypoints(torch.zeros(8), torch.zeros(30))


def test_transform_runs_inside_getitem():
    data = SyntheticFaceKeypoints(4, seed=0, transform=hflip_keypoints)
    plain = SyntheticFaceKeypoints(4, seed=0)
    image, keypoints = data[2]
    assert torch.equal(image, plain[2][0].flip(-1))
    assert torch.equal(keypoints, hflip_keypoints(*plain[2])[1])
