"""Old module path of the kernel's view of the package: now ``coursekit.course.package_view``."""

from .package_view import STUB_MESSAGE, build_view, rewrite_source

__all__ = ["build_view", "rewrite_source", "STUB_MESSAGE"]
