"""The font contract PDFs embed: Noto Sans SC Regular, from the project's dependencies.

The package `justmytype-intl-cjk` ships Noto Sans SC (SIL Open Font License, `OFL.txt`
beside the font) as one variable TrueType font whose default instance is Thin (wght 100).
reportlab embeds TrueType outlines but cannot pick a weight of a variable font, so the
Regular weight (wght 400) is made once with fontTools' instancer and kept as a static
font file in `FONT_CACHE_DIR`, named after the package and fontTools versions: a new
package gives a new file and an old file is never reused for it. Making it takes
seconds (the whole font, about 31,000 glyphs); every contract after that embeds a
subset of it in tens of milliseconds (docs/contracts-pdf.md has the measurements and
why not to subset then instance per document).

The file is written to a temporary name and renamed into place, under an exclusive
lock, so processes starting together make it once and nobody reads half a file.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import threading
from collections.abc import Iterator
from importlib import metadata, resources
from pathlib import Path

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

from services.kit.settings import get_settings

logger = logging.getLogger(__name__)

PACKAGE = "justmytype-intl-cjk"
FAMILY_DIR = ("fonts", "ofl", "notosanssc")
VARIABLE_FONT = "NotoSansSC[wght].ttf"
LICENCE = "OFL.txt"
WEIGHT = 400
# The name reportlab registers; the PDF names each embedded subset "<tag>+NotoSansSC-Regular".
FONT_NAME = "NotoSansSC-Regular"
# Bumped when the way the instance is made changes, so old cache files are not reused.
RECIPE = 1

_lock = threading.Lock()
_registered = False


def package_dir() -> Path:
    """The Noto Sans SC directory inside the installed font package."""
    return Path(str(resources.files("justmytype_intl_cjk").joinpath(*FAMILY_DIR)))


def variable_font_path() -> Path:
    return package_dir() / VARIABLE_FONT


def licence_path() -> Path:
    """The font's licence text (SIL Open Font License 1.1), as the package ships it."""
    return package_dir() / LICENCE


def cache_name() -> str:
    """The static font's file name: what it was made from and how."""
    package = metadata.version(PACKAGE)
    tools = metadata.version("fonttools")
    return f"NotoSansSC-wght{WEIGHT}-{PACKAGE}-{package}-fonttools-{tools}-r{RECIPE}.ttf"


def make_static_instance(source: Path, target: Path, weight: int = WEIGHT) -> None:
    """Write the `weight` instance of the variable font `source` to `target` as a
    static TrueType font. The head table's modified date is kept from the source, so
    the same package and fontTools versions make the same bytes on any machine."""
    from fontTools.ttLib import TTFont as FontFile  # type: ignore[import-untyped]
    from fontTools.varLib import instancer  # type: ignore[import-untyped]

    variable = FontFile(str(source))
    static = instancer.instantiateVariableFont(
        variable, {"wght": weight}, inplace=True, updateFontNames=True
    )
    static.recalcTimestamp = False
    static.save(str(target))


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """An exclusive lock between processes (flock), held while the font is made."""
    try:
        import fcntl
    except ImportError:  # not POSIX: the atomic rename alone keeps readers safe
        yield
        return
    with lock_path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _build_in(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / cache_name()
    if target.exists():
        return target
    with _exclusive(directory / (target.name + ".lock")):
        if target.exists():  # another process made it while this one waited
            return target
        logger.info("Making %s from %s (once per font package version)", target, VARIABLE_FONT)
        handle, temporary = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".ttf")
        os.close(handle)
        try:
            make_static_instance(variable_font_path(), Path(temporary))
            os.chmod(temporary, 0o644)  # mkstemp's 0600 would hide it from other users
            with open(temporary, "rb") as written:
                os.fsync(written.fileno())
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    return target


def static_font_path() -> Path:
    """The static Regular font, made now if the cache does not hold it yet.

    An unwritable FONT_CACHE_DIR is logged and a per-user directory under the system's
    temporary directory is used instead, so contracts are still issued."""
    configured = Path(get_settings().font_cache_dir)
    try:
        return _build_in(configured)
    except PermissionError as error:
        fallback = Path(tempfile.gettempdir()) / f"lendbridge-fonts-{os.getuid()}"
        logger.warning(
            "FONT_CACHE_DIR %s is not writable (%s): using %s", configured, error, fallback
        )
        return _build_in(fallback)


def register() -> str:
    """Register the contract font with reportlab (once per process) and return its name.

    Blocking: the first call in a process may make the static font (seconds); call it
    from a worker thread."""
    global _registered
    with _lock:
        if not _registered:
            path = static_font_path()
            try:
                font = TTFont(FONT_NAME, str(path))
            except Exception:
                # A damaged cache file (the rename makes a partial one unlikely): remake it.
                logger.exception("Cannot read %s: making it again", path)
                path.unlink(missing_ok=True)
                font = TTFont(FONT_NAME, str(static_font_path()))
            pdfmetrics.registerFont(font)
            _registered = True
    return FONT_NAME
