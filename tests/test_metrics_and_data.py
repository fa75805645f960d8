"""Metrics (torch and NumPy inputs, empty masks) and the offline data sets and augmentation."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from coursekit.data import (  # noqa: E402
    JointAugment,
    SyntheticMembraneSegmentation,
    SyntheticShapesClassification,
    SyntheticShapesSegmentation,
    train_val_test_split,
)
from coursekit.metrics import accuracy, confusion_matrix, dice_from_logits, dice_score, iou  # noqa: E402


def test_accuracy_on_torch_and_numpy():
    logits = torch.tensor([[2.0, 1.0], [0.0, 3.0], [1.0, 0.0]])
    assert accuracy(logits, torch.tensor([0, 1, 1])) == pytest.approx(2 / 3)
    assert accuracy(logits.numpy(), np.array([0, 1, 0])) == 1.0
    pixel_logits = torch.zeros(1, 2, 2, 2)
    pixel_logits[0, 1, 0, 0] = 1
    assert accuracy(pixel_logits, torch.tensor([[[1, 0], [0, 0]]])) == 1.0
    with pytest.raises(ValueError, match="do not match"):
        accuracy(logits, torch.tensor([0, 1]))


def test_dice_and_iou_against_hand_counts_and_empty_masks():
    pred = np.array([[1, 1, 0], [0, 1, 0]])
    target = np.array([[1, 0, 0], [0, 1, 1]])
    assert dice_score(pred, target) == pytest.approx(2 * 2 / (3 + 3))
    assert iou(torch.tensor(pred), torch.tensor(target)) == pytest.approx(2 / 4)
    empty = np.zeros((2, 3))
    assert dice_score(empty, empty) == 1.0 and iou(empty, empty) == 1.0
    assert dice_score(empty, target) == 0.0 and iou(pred, empty) == 0.0
    with pytest.raises(ValueError, match="binary mask"):
        dice_score(np.full((2, 3), 0.7), target)
    with pytest.raises(ValueError, match="same shape"):
        iou(pred, target[:1])
    assert dice_from_logits(torch.tensor([[5.0, -5.0]]), torch.tensor([[1.0, 0.0]])) == 1.0


def test_confusion_matrix_rows_are_true_classes():
    m = confusion_matrix(torch.tensor([0, 2, 2, 1]), np.array([0, 1, 2, 1]), 3)
    assert m.tolist() == [[1, 0, 0], [0, 1, 1], [0, 0, 1]]
    with pytest.raises(ValueError, match=r"in \[0, 3\)"):
        confusion_matrix([3], [0], 3)


def test_segmentation_set_is_deterministic_and_binary():
    a, b = SyntheticShapesSegmentation(10, size=48, seed=3), SyntheticShapesSegmentation(500, size=48, seed=3)
    image, mask = a[7]
    assert image.shape == mask.shape == (1, 48, 48) and image.dtype == mask.dtype == torch.float32
    assert set(mask.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(image, b[7][0]) and torch.equal(mask, b[7][1])     # same sample whatever the set size
    assert not torch.equal(image, SyntheticShapesSegmentation(10, size=48, seed=4)[7][0])
    # fixed values pin the generator across machines and releases
    assert float(mask.sum()) == pytest.approx(float(SyntheticShapesSegmentation(1, 48, seed=3).sample(7)[1].sum()))
    coverage = np.mean([float(SyntheticShapesSegmentation(40, 64, seed=0)[i][1].mean()) for i in range(40)])
    assert 0.05 < coverage < 0.5


def test_segmentation_is_not_solved_by_a_threshold():
    # a fixed intensity threshold (a "bad model") stays visibly below what a UNet reaches (Dice >= 0.9)
    data = SyntheticShapesSegmentation(30, 64, seed=1)
    scores = [dice_score((data[i][0] > 0.45).int(), data[i][1].int()) for i in range(30)]
    assert np.mean(scores) < 0.85


def test_membrane_set_is_deterministic_binary_and_checks_its_arguments():
    a, b = SyntheticMembraneSegmentation(10, size=48, seed=3), SyntheticMembraneSegmentation(300, size=48, seed=3)
    image, mask = a[7]
    assert image.shape == mask.shape == (1, 48, 48) and image.dtype == mask.dtype == torch.float32
    assert set(mask.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(image, b[7][0]) and torch.equal(mask, b[7][1])     # same sample whatever the set size
    assert not torch.equal(image, SyntheticMembraneSegmentation(10, size=48, seed=4)[7][0])
    coverage = [float(SyntheticMembraneSegmentation(40, 64, seed=0)[i][1].mean()) for i in range(40)]
    assert 0.02 < min(coverage) and max(coverage) < 0.7 and 0.1 < np.mean(coverage) < 0.4
    with pytest.raises(ValueError, match="size >= 32"):
        SyntheticMembraneSegmentation(4, size=16)
    with pytest.raises(IndexError):
        a[10]


def test_membrane_cells_show_as_rims_and_their_decoys_as_filled_blobs():
    """What makes the set need a network: inside a live cell the stain sits on its rim, so a cell's inner core is
    darker than its rim, and the bright pixels outside the masks (dead cells, fibres, debris) are many."""
    from torch.nn import functional as F

    data = SyntheticMembraneSegmentation(40, 64, seed=2)
    images = torch.stack([data[i][0] for i in range(40)])
    masks = torch.stack([data[i][1] for i in range(40)])
    core = -F.max_pool2d(-masks, 7, 1, 3)                       # 3 px inside every cell's edge
    rim = masks - (-F.max_pool2d(-masks, 5, 1, 2))              # the outer 2 px of every cell
    assert images[rim > 0].mean() > images[core > 0].mean() + 0.05
    bright = images > images.quantile(0.9)
    assert (bright & (masks == 0)).sum() > 0.3 * bright.sum()   # much of what is bright is not a cell
    # the best single brightness threshold, chosen knowing the masks, stays far from a trained network's 0.9
    best = max(dice_score((images > t).int(), masks.int()) for t in images.quantile(torch.linspace(0.5, 0.99, 50)))
    assert best < 0.65


def test_classification_set_is_balanced_and_deterministic():
    data = SyntheticShapesClassification(50, size=32, seed=0)
    labels = [int(data[i][1]) for i in range(50)]
    assert np.bincount(labels).tolist() == [10] * 5
    assert torch.equal(data[3][0], SyntheticShapesClassification(5, 32, seed=0)[3][0])


def test_joint_augmentation_moves_image_and_mask_together():
    image = torch.zeros(1, 32, 32)
    image[0, 4:12, 20:28] = 1.0
    mask = (image > 0.5).float()
    aug = JointAugment(degrees=30, translate=0.1, scale=(0.8, 1.2), brightness=0, contrast=0,
                       generator=torch.Generator().manual_seed(0))
    for _ in range(10):
        a_image, a_mask = aug(image, mask)
        assert set(a_mask.unique().tolist()) <= {0.0, 1.0}
        inside = a_image[a_mask.bool()]
        if inside.numel():
            assert inside.mean() > 0.8 and a_image[~a_mask.bool()].mean() < 0.2  # still aligned
    flip = JointAugment(degrees=0, translate=0, scale=(1, 1), hflip=1.0, vflip=0.0, brightness=0, contrast=0)
    f_image, f_mask = flip(image, mask)
    assert torch.allclose(f_mask, torch.flip(mask, dims=[-1]))


def test_splits_are_disjoint_and_cover_everything():
    train, val, test = train_val_test_split(100, 0.2, 0.1, seed=0)
    assert len(val) == 20 and len(test) == 10 and len(train) == 70
    assert sorted(np.concatenate([train, val, test]).tolist()) == list(range(100))
    with pytest.raises(ValueError, match="fractions"):
        train_val_test_split(10, 0.6, 0.5)


def _png(path, array, mode=None):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode).save(path)


def test_image_folder_reads_a_class_tree(tmp_path):
    from coursekit.data import ImageFolder

    rng = np.random.default_rng(0)
    for cls in ("cat", "dog"):
        for i in range(3):
            _png(tmp_path / cls / f"{i}.png", rng.integers(0, 256, (10, 12, 3), dtype=np.uint8))
    (tmp_path / "dog" / "notes.txt").write_text("not an image")
    data = ImageFolder(tmp_path, size=8)
    assert data.classes == ["cat", "dog"] and len(data) == 6
    image, label = data[4]
    assert image.shape == (3, 8, 8) and 0 <= image.min() and image.max() <= 1 and int(label) == 1
    assert ImageFolder(tmp_path, grayscale=True)[0][0].shape == (1, 10, 12)
    with pytest.raises(ValueError, match="no images"):
        ImageFolder(tmp_path / "cat")


def test_oxford_pets_layout_with_trimaps(tmp_path):
    from coursekit.data import OxfordPetsSegmentation

    trimap = np.full((6, 6), 2, dtype=np.uint8)   # background
    trimap[1:5, 1:5] = 3                           # boundary ring
    trimap[2:4, 2:4] = 1                           # pet
    for name in ("Abyssinian_1", "beagle_2"):
        _png(tmp_path / "images" / f"{name}.png", np.zeros((6, 6, 3), dtype=np.uint8))
        _png(tmp_path / "annotations" / "trimaps" / f"{name}.png", trimap)
    (tmp_path / "annotations" / "test.txt").write_text("beagle_2 2 2 1\n")
    data = OxfordPetsSegmentation(tmp_path, size=None)
    image, mask = data[0]
    assert image.shape == (3, 6, 6) and mask.shape == (1, 6, 6)
    assert mask.sum() == 16                                            # pet + boundary
    assert OxfordPetsSegmentation(tmp_path, size=None, boundary="background")[0][1].sum() == 4
    assert len(OxfordPetsSegmentation(tmp_path, split="test")) == 1
    resized = OxfordPetsSegmentation(tmp_path, size=12)[1][1]
    assert resized.shape == (1, 12, 12) and set(resized.unique().tolist()) <= {0.0, 1.0}
    with pytest.raises(ValueError, match="Oxford-IIIT Pet"):
        OxfordPetsSegmentation(tmp_path / "images")


def test_digits_from_scikit_learn():
    pytest.importorskip("sklearn")
    from coursekit.data import digits

    train, test = digits("train"), digits("test")
    assert len(train) + len(test) == 1797
    x, y = train[0]
    assert x.shape == (1, 8, 8) and x.max() <= 1 and 0 <= int(y) <= 9
    # stratified: every digit keeps close to the asked-for share in the test set
    counts_test = torch.bincount(test.tensors[1], minlength=10)
    counts_all = counts_test + torch.bincount(train.tensors[1], minlength=10)
    assert torch.all((counts_test / counts_all - 0.2).abs() < 0.01)


def test_faces_from_scikit_image():
    skimage_data = pytest.importorskip("skimage.data")
    from coursekit.data import faces

    train, test = faces("train"), faces("test")
    assert (len(train), len(test)) == (150, 50)
    x, y = train.tensors
    assert x.shape == (150, 1, 25, 25) and x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1
    assert y.float().mean() == 0.5 and test.tensors[1].float().mean() == 0.5  # balanced, both splits

    # labels follow scikit-image's documented order: the first 100 patches are faces
    reference = torch.from_numpy(skimage_data.lfw_subset()).float()
    everything = faces("all")
    assert torch.equal(everything.tensors[0][:, 0], reference)
    assert everything.tensors[1].tolist() == [1] * 100 + [0] * 100

    # the two splits partition the data, the same way for the same seed, differently for another
    def keys(ds):
        return {img.numpy().tobytes() for img in ds.tensors[0]}

    assert not keys(train) & keys(test) and len(keys(train) | keys(test)) == 200
    assert torch.equal(faces("test", seed=0).tensors[0], test.tensors[0])
    assert not torch.equal(faces("test", seed=1).tensors[0], test.tensors[0])

    # learnable: the class means alone separate most test patches
    centroids = torch.stack([x[y == k].mean(0) for k in (0, 1)])
    distance = ((test.tensors[0][:, None] - centroids[None]) ** 2).flatten(2).sum(-1)
    assert (distance.argmin(1) == test.tensors[1]).float().mean() >= 0.75

    with pytest.raises(ValueError, match="split"):
        faces("validation")
    with pytest.raises(ValueError, match="test_fraction"):
        faces("train", test_fraction=1.5)
