"""coursekit.data: data sets that work offline and deterministically, joint image+mask augmentation, splits."""

from .._extras import require

# one line naming the extra when torch is missing, before any submodule imports it
require(__name__, "torch", extra="torch")

from .augment import JointAugment  # noqa: E402
from .folders import ImageFolder, OxfordPetsSegmentation, digits, faces  # noqa: E402
from .mnist import mnist, mnist_arrays, sample_per_class  # noqa: E402
from .splits import train_val_test_split  # noqa: E402
from .synthetic import (  # noqa: E402
    SyntheticMembraneSegmentation,
    SyntheticShapesClassification,
    SyntheticShapesSegmentation,
)

__all__ = ["SyntheticShapesSegmentation", "SyntheticMembraneSegmentation", "SyntheticShapesClassification",
           "JointAugment", "train_val_test_split",
           "ImageFolder", "OxfordPetsSegmentation", "digits", "faces",
           "mnist", "mnist_arrays", "sample_per_class"]
