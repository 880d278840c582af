"""Build steps of the tandem package that pyproject.toml cannot say (or says only in the beta
[tool.setuptools] table of older setuptools, such as Debian 12's).

- The package is tandem/ alone (test_tandem.py and example.py stay out), at tandem.__version__.
- build_py copies libtandem.so into the package (tandem/libtandem.so), from $TANDEM_BUILD_LIBRARY
  or else ../dist/libtandem/lib/libtandem.so, and stops with a message saying how to build it when
  it is not there.
- bdist_wheel tags the wheel py3-none-<platform>: the package holds no Python extension (ctypes
  loads the library), so any Python 3 can use it, but only on the platform the library was built for.
"""

import ast
import os

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py

try:
    from setuptools.command.bdist_wheel import bdist_wheel  # setuptools 70.1 and later
except ImportError:
    from wheel.bdist_wheel import bdist_wheel

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_LIBRARY = os.path.join(HERE, "..", "dist", "libtandem", "lib", "libtandem.so")


def version():
    """tandem.__version__, read without importing the package (which would load the library)."""
    with open(os.path.join(HERE, "tandem", "__init__.py"), encoding="utf-8") as source:
        for node in ast.parse(source.read()).body:
            if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__version__" for t in node.targets):
                return ast.literal_eval(node.value)
    raise SystemExit("tandem: no __version__ in tandem/__init__.py")


def library():
    """The libtandem.so to package; exits with instructions when there is none."""
    path = os.path.normpath(os.environ.get("TANDEM_BUILD_LIBRARY") or DEFAULT_LIBRARY)
    if not os.path.isfile(path):
        raise SystemExit(
            f"tandem: cannot build the Python package: {path} does not exist.\n"
            "Build libtandem.so first, from the repository root: scripts/make-libtandem.sh\n"
            "(or set TANDEM_BUILD_LIBRARY to the libtandem.so to package).")
    return path


class BuildWithLibrary(build_py):
    """build_py, then the library copied next to tandem/__init__.py."""

    def run(self):
        source = library()
        super().run()
        self.copy_file(source, os.path.join(self.build_lib, "tandem", "libtandem.so"), preserve_mode=True)


class BinaryDistribution(Distribution):
    """A distribution with a platform-specific file, so its files install into platlib (the wheel's root)."""

    def has_ext_modules(self):
        return True


class PlatformWheel(bdist_wheel):
    """A wheel for any Python 3 on this platform."""

    def get_tag(self):
        _, _, platform = super().get_tag()
        return "py3", "none", platform


setup(packages=["tandem"], version=version(), distclass=BinaryDistribution,
      cmdclass={"build_py": BuildWithLibrary, "bdist_wheel": PlatformWheel})
