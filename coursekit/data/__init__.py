"""coursekit.data: data sets that work offline and deterministically, joint image+mask augmentation, splits."""

from .augment import JointAugment
from .folders import ImageFolder, OxfordPetsSegmentation, digits, faces
from .mnist import mnist, mnist_arrays, sample_per_class
from .splits import train_val_test_split
from .synthetic import SyntheticShapesClassification, SyntheticShapesSegmentation

__all__ = ["SyntheticShapesSegmentation", "SyntheticShapesClassification", "JointAugment", "train_val_test_split",
           "ImageFolder", "OxfordPetsSegmentation", "digits", "faces",
           "mnist", "mnist_arrays", "sample_per_class"]
