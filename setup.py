"""Build the optional Cython extensions of ``idnode._fastpath``.

Everything else about the distribution lives in ``pyproject.toml``. Each
extension is optional: when Cython or a C compiler is missing, or one module
fails to compile, the install still succeeds with the pure-Python twins and
prints a warning (``idnode version`` then reports ``fast path: python``).
"""

from __future__ import annotations

import os
import sys
import traceback

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

try:  # the stdlib names first, then setuptools' own copies (one class each in recent setuptools)
    from distutils.errors import CCompilerError, CompileError, DistutilsExecError, DistutilsPlatformError, LinkError
except ImportError:  # pragma: no cover - Python without distutils and an old setuptools
    CCompilerError = CompileError = DistutilsExecError = DistutilsPlatformError = LinkError = OSError
from setuptools.errors import CCompilerError as SetuptoolsCCompilerError
from setuptools.errors import CompileError as SetuptoolsCompileError
from setuptools.errors import ExecError, PlatformError
from setuptools.errors import LinkError as SetuptoolsLinkError

BUILD_ERRORS: tuple[type[BaseException], ...] = (
    CCompilerError,
    CompileError,
    DistutilsExecError,
    DistutilsPlatformError,
    LinkError,
    SetuptoolsCCompilerError,
    SetuptoolsCompileError,
    ExecError,
    PlatformError,
    SetuptoolsLinkError,
    OSError,  # the compiler executable itself is missing
)

# optional=True: setuptools then neither copies nor installs a module that failed.
EXTENSIONS = [
    Extension("idnode._fastpath._identifiers_c", ["_fastpath/_identifiers_c.pyx"], optional=True),
    Extension("idnode._fastpath._record_c", ["_fastpath/_record_c.pyx"], optional=True),
    Extension("idnode._fastpath._resolve_c", ["_fastpath/_resolve_c.pyx"], optional=True),
    Extension("idnode._fastpath._dnsanswer_c", ["_fastpath/_dnsanswer_c.pyx"], optional=True),
    Extension("idnode._fastpath._dns_c", ["_fastpath/_dns_c.pyx"], optional=True),
]


def _warn(what: str, exc: BaseException) -> None:
    bar = "*" * 78
    reason = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    sys.stderr.write(
        f"\n{bar}\nWARNING: {what} could not be built: {reason}\n"
        "idnode will use the pure-Python twins of the fast path (correct, slower).\n"
        "For the compiled modules install Cython, a C compiler and the Python headers, then reinstall.\n"
        f"{bar}\n\n"
    )


class OptionalBuildExt(build_ext):
    """``build_ext`` that cythonizes each extension and lets it fail alone."""

    def initialize_options(self) -> None:
        super().initialize_options()
        self.failed: list[str] = []  # names of the extensions that could not be built

    def run(self) -> None:
        try:
            super().run()
        except BUILD_ERRORS as exc:  # e.g. no compiler configured at all
            self.failed = [ext.name for ext in self.extensions]
            _warn("the fast-path extensions", exc)
            if self.inplace:
                self._remove_stale()

    def build_extension(self, ext: Extension) -> None:
        try:
            from Cython.Build import cythonize

            (translated,) = cythonize(
                [ext],
                build_dir=os.path.join(self.build_temp, "cython"),
                compiler_directives={"language_level": "3"},
                quiet=True,
                force=self.force,
            )
            ext.sources = translated.sources  # keep setuptools' own Extension object: it carries build state
            super().build_extension(ext)
        except ImportError as exc:  # Cython missing (a build without isolation)
            self._failed(ext, exc)
        except BUILD_ERRORS as exc:
            self._failed(ext, exc)
        except Exception as exc:  # Cython's own CompileError and kin
            if type(exc).__module__.startswith("Cython"):
                self._failed(ext, exc)
            else:
                raise

    def _failed(self, ext: Extension, exc: BaseException) -> None:
        self.failed.append(ext.name)
        _warn(ext.name, exc)

    def copy_extensions_to_source(self) -> None:
        super().copy_extensions_to_source()  # skips what failed (optional=True)
        self._remove_stale()

    def _remove_stale(self) -> None:
        # An in-place (editable) build must not leave an older module behind
        # for one that failed now: the import system would load it instead of
        # the twin, and it may not match the sources any more.
        build_py = self.get_finalized_command("build_py")
        for ext in self.extensions:
            if ext.name in self.failed:
                fullname = self.get_ext_fullname(ext.name)
                package = fullname.rpartition(".")[0]
                filename = os.path.basename(self.get_ext_filename(fullname))
                stale = os.path.join(build_py.get_package_dir(package), filename)
                if os.path.exists(stale):
                    os.remove(stale)
                    sys.stderr.write(f"removed the stale {stale}\n")


setup(ext_modules=EXTENSIONS, cmdclass={"build_ext": OptionalBuildExt})
