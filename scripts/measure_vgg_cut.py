"""Measure where to cut the ImageNet VGG16 for shipping: accuracy with few labels against size and time.

For each weights file (built by build_imagenet_assets.py --blocks K --out-dir DIR) and input size: CNN codes
(global average + max pool of the last block) of the MNIST test split (3,000 digits) and of the training
split, then a logistic regression on 5 / 10 / 30 labels per class, over several draws of the labelled digits.
Extraction time is for the 3,000 test digits on --threads threads.

    python scripts/measure_vgg_cut.py /tmp/b3/vgg16_imagenet_features.npz /tmp/b4/vgg16_imagenet_features.npz
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from coursekit.data import mnist, sample_per_class
from coursekit.models.vgg import VGG, VGG16_BLOCK_ENDS, caffe_preprocess, pooled_features


def backbone_from(path: str) -> tuple[torch.nn.Sequential, int]:
    with np.load(path, allow_pickle=False) as archive:
        state = {k.removeprefix("features."): torch.from_numpy(archive[k].astype(np.float32)) for k in archive.files}
    last = max(int(k.split(".")[0]) for k in state)
    blocks = sum(1 for end in VGG16_BLOCK_ENDS if end < last + 3)
    features = VGG("D", num_classes=1).features[:VGG16_BLOCK_ENDS[blocks - 1] + 1]
    features.load_state_dict(state)
    return features, blocks


def probe(train_codes, train_labels, test_codes, test_labels, k, seed):
    chosen = sample_per_class(train_labels, k, seed)
    scaler = StandardScaler().fit(train_codes[chosen])
    clf = LogisticRegression(C=1.0, max_iter=2000).fit(scaler.transform(train_codes[chosen]), train_labels[chosen])
    return (clf.predict(scaler.transform(test_codes)) == test_labels).mean()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("weights", nargs="+")
    parser.add_argument("--sizes", type=int, nargs="+", default=[32])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--draws", type=int, default=5)
    parser.add_argument("--pool", type=int, default=2000, help="training digits the labelled ones are drawn from")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    train, test = mnist("train"), mnist("test")
    train_x, train_y = train.tensors[0][:args.pool], train.tensors[1][:args.pool].numpy()
    test_x, test_y = test.tensors[0], test.tensors[1].numpy()
    for path in args.weights:
        backbone, blocks = backbone_from(path)
        megabytes = sum(p.numel() for p in backbone.parameters()) * 2 / 1e6
        for size in args.sizes:
            start = time.perf_counter()
            test_codes = pooled_features(backbone, caffe_preprocess(test_x, size)).numpy()
            seconds = time.perf_counter() - start
            train_codes = pooled_features(backbone, caffe_preprocess(train_x, size)).numpy()
            row = []
            for k in (5, 10, 30):
                accs = [probe(train_codes, train_y, test_codes, test_y, k, seed) for seed in range(args.draws)]
                row.append(f"k={k}: {np.mean(accs):.3f} +- {np.std(accs):.3f}")
            print(f"blocks 1-{blocks}, {megabytes:.1f} MB fp16, {size}x{size}: codes {test_codes.shape[1]}, "
                  f"3,000 digits in {seconds:.1f} s on {args.threads} threads; " + "; ".join(row), flush=True)


if __name__ == "__main__":
    main()
