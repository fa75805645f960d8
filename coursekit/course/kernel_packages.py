"""Which installed packages a student's kernel can import: its view of site-packages.

The sandbox (``coursekit.course.sandbox``) mounts an empty folder over each site-packages folder and binds back
only the entries chosen here: no PyTorch for a NumPy-only assignment (``KERNEL_TORCH = False``), none of the
packages an assignment's ``KERNEL_EXCLUDES`` names (import or distribution names, with their metadata, their
``.libs`` folders and their .pth files), and never coursekit itself (the assignment's view of it is mounted in its
place: ``coursekit.course.package_view``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ["TORCH_ENTRIES", "KERNEL_ESSENTIALS", "site_packages_folders", "excluded_entries", "normalise_name"]

# top-level entries of site-packages that make up PyTorch: left out of a NumPy-only assignment's kernel
TORCH_ENTRIES = ("torch", "functorch", "torchgen", "torchvision", "torchaudio", "nvidia", "triton", "pytorch")


# packages the kernel cannot run without: KERNEL_EXCLUDES may not name them
KERNEL_ESSENTIALS = ("coursekit", "ipykernel", "ipython", "jupyter_client", "jupyter_core", "zmq", "pyzmq",
                     "traitlets", "tornado", "numpy", "comm", "debugpy", "matplotlib_inline", "psutil",
                     "nest_asyncio", "platformdirs", "packaging", "decorator", "pygments", "prompt_toolkit",
                     "jedi", "parso", "executing", "asttokens", "pure_eval", "stack_data", "wcwidth",
                     "pexpect", "ptyprocess", "dateutil", "python_dateutil", "six")


def normalise_name(name: str) -> str:
    return name.strip().lower().replace("-", "_").replace(".", "_")


def _entry_top(entry: str) -> str:
    """The import (or distribution) name an entry of site-packages belongs to: scipy, scipy.libs, scipy-1.2.dist-info,
    _cffi_backend.cpython-311-x86_64-linux-gnu.so, six.py, distutils-precedence.pth -> scipy, scipy, scipy, ..."""
    if entry.endswith((".dist-info", ".egg-info")):
        return normalise_name(entry.rsplit(".", 1)[0].split("-")[0])
    return normalise_name(entry.split(".")[0])


def _distribution_tops(dist_info: Path) -> set[str]:
    """Top-level entries of site-packages that a distribution installed (its RECORD, else top_level.txt)."""
    tops = set()
    for name in ("RECORD", "top_level.txt", "installed-files.txt"):
        try:
            text = (dist_info / name).read_text(errors="replace")
        except OSError:
            continue
        for line in text.splitlines():
            path = line.split(",", 1)[0].strip()
            if path and not path.startswith(".."):
                tops.add(path.split("/", 1)[0])
    return tops


def excluded_entries(site_packages: Path, excludes) -> set[str]:
    """The entries of site_packages to leave out so that none of excludes (import or distribution names, e.g.
    "scipy", "skimage", "scikit-image") can be imported: the packages and modules of that name, their ``.libs``
    folders, and every entry of a distribution that provides one of them (its metadata, its .pth files)."""
    wanted = {normalise_name(e) for e in excludes if str(e).strip()}
    if not wanted:
        return set()
    entries = sorted(os.listdir(site_packages))
    out = {e for e in entries if _entry_top(e) in wanted}
    for entry in entries:
        if not entry.endswith((".dist-info", ".egg-info")) or not (site_packages / entry).is_dir():
            continue
        tops = _distribution_tops(site_packages / entry)
        top_names = {_entry_top(t) for t in tops if not t.endswith((".dist-info", ".egg-info"))}
        if _entry_top(entry) in wanted or top_names & wanted:
            out.add(entry)
            out |= {t for t in tops if t in entries and t != "__pycache__" and _entry_top(t) not in KERNEL_ESSENTIALS}
    return out




def site_packages_folders() -> list[Path]:
    import site

    folders = {Path(p).resolve() for p in site.getsitepackages() if Path(p).is_dir()}
    base = Path(sys.base_prefix).resolve() / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
    if (base / "site-packages").is_dir():
        folders.add((base / "site-packages").resolve())
    return sorted(folders)



# ------------------------------------------------------------------------------------------ the allow-list
# what every kernel needs to be a Jupyter kernel at all; an assignment's KERNEL_PACKAGES adds to it
KERNEL_BASE = ("ipykernel", "coursekit")


def _requirement_name(requirement: str) -> str | None:
    """The distribution a requirement line names, or None when its marker excludes it here (extras, other
    platforms and Pythons)."""
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        parsed = Requirement(requirement)
    except InvalidRequirement:
        return None
    if parsed.marker is not None and not parsed.marker.evaluate({"extra": ""}):
        return None
    return normalise_name(parsed.name)


def _distributions_by_name(site_packages: Path) -> dict:
    import importlib.metadata as metadata

    found = {}
    for dist in metadata.distributions(path=[str(site_packages)]):
        name = dist.metadata.get("Name")
        if name:
            found.setdefault(normalise_name(name), dist)
    return found


def allowed_distributions(site_packages: Path, packages) -> set[str]:
    """The distributions a kernel may import from: those named (by import or distribution name) in packages plus
    KERNEL_BASE, and everything they require, recursively (their installed metadata says what)."""
    import importlib.metadata as metadata

    by_name = _distributions_by_name(site_packages)
    providers = {}
    try:
        for top, dists in metadata.packages_distributions().items():
            providers[normalise_name(top)] = [normalise_name(d) for d in dists]
    except Exception:  # noqa: BLE001 - a broken RECORD somewhere: names must then be distribution names
        pass
    wanted = []
    for name in [*KERNEL_BASE, *packages]:
        key = normalise_name(name)
        wanted += [key] if key in by_name else providers.get(key, [])
    allowed: set[str] = set()
    while wanted:
        name = wanted.pop()
        if name in allowed or name not in by_name:
            continue
        allowed.add(name)
        for requirement in by_name[name].requires or []:
            required = _requirement_name(requirement)
            if required and required not in allowed:
                wanted.append(required)
    return allowed


def allowed_entries(site_packages: Path, packages) -> set[str]:
    """The entries of site_packages a kernel may see under an allow-list: every top-level file and folder that an
    allowed distribution installed (its RECORD: packages, modules, .libs folders, .pth files and its own metadata).
    Whatever no allowed distribution installed is absent."""
    by_name = _distributions_by_name(site_packages)
    entries = set(os.listdir(site_packages))
    kept = set()
    for name in allowed_distributions(site_packages, packages):
        dist = by_name[name]
        info = Path(getattr(dist, "_path", ""))
        if info.parent == site_packages:
            kept.add(info.name)
        kept |= {t for t in _distribution_tops(info) if t in entries and t != "__pycache__"}
    return kept
