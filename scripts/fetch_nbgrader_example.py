"""Fetch the few nbgrader 0.9.6 files that tests/test_foreign_course.py grades, bit for bit.

nbgrader's documented example course (``ps1``: the source notebooks and the submissions of ``bitdiddle`` and
``hacker``) and five of nbgrader's own autograde test notebooks, copied out of the nbgrader 0.9.6 wheel from PyPI
(``pip download nbgrader==0.9.6 --no-deps --only-binary :all:``; the sdist needs a JupyterLab build to be
downloaded at all). The wheel is checked against its pinned sha256 before anything is read, and every file against
tests/data/nbgrader_example/SHA256SUMS before it is written. Nothing is downloaded at test time: the test reads the
copies committed under tests/data/nbgrader_example/.

    python scripts/fetch_nbgrader_example.py [--out-dir DIR] [--download-dir DIR] [--check]

--check: verify the committed copies against SHA256SUMS only (no network).
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT_DIR = ROOT / "tests" / "data" / "nbgrader_example"
WHEEL = "nbgrader-0.9.6-py3-none-any.whl"
WHEEL_SHA256 = "8a185fe53cab78363102862e3d845c48b26823f349482ea9209426bdae5bd75f"


def sums(path: Path) -> dict[str, str]:
    """SHA256SUMS: '<sha256>  <path inside the nbgrader package>' per line."""
    found = {}
    for line in path.read_text().splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            found[name.strip()] = digest
    return found


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check(out_dir: Path) -> list[str]:
    """The files under out_dir that are missing or differ from SHA256SUMS."""
    wrong = []
    for name, digest in sums(out_dir / "SHA256SUMS").items():
        path = out_dir / name
        if not path.is_file() or sha256(path.read_bytes()) != digest:
            wrong.append(name)
    return wrong


def fetch(out_dir: Path, download_dir: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "download", "nbgrader==0.9.6", "--no-deps", "--only-binary",
                    ":all:", "-d", str(download_dir), "-q"], check=True)
    wheel = download_dir / WHEEL
    if sha256(wheel.read_bytes()) != WHEEL_SHA256:
        raise SystemExit(f"{wheel}: sha256 differs from the pinned {WHEEL_SHA256}")
    wanted = sums(OUT_DIR / "SHA256SUMS")
    with zipfile.ZipFile(wheel) as archive:
        for name, digest in wanted.items():
            data = archive.read(f"nbgrader/{name}")
            if sha256(data) != digest:
                raise SystemExit(f"nbgrader/{name} in {WHEEL}: sha256 differs from SHA256SUMS")
            (out_dir / name).parent.mkdir(parents=True, exist_ok=True)
            (out_dir / name).write_bytes(data)
    if out_dir != OUT_DIR:
        (out_dir / "SHA256SUMS").write_text((OUT_DIR / "SHA256SUMS").read_text())
    print(f"wrote {len(wanted)} files of {WHEEL} to {out_dir}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=OUT_DIR)
    parser.add_argument("--download-dir", type=Path, default=None)
    parser.add_argument("--check", action="store_true", help="only verify the committed copies")
    args = parser.parse_args(argv)
    if not args.check:
        if args.download_dir:
            args.download_dir.mkdir(parents=True, exist_ok=True)
            fetch(args.out_dir, args.download_dir)
        else:
            with tempfile.TemporaryDirectory() as tmp:
                fetch(args.out_dir, Path(tmp))
    wrong = check(args.out_dir if not args.check else OUT_DIR)
    if wrong:
        print("differ from SHA256SUMS: " + ", ".join(wrong))
        return 1
    print("every file matches SHA256SUMS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
