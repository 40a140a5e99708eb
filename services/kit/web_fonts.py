"""Web fonts cut from the contract font, for pages read on machines without CJK fonts.

A page whose Chinese must read where no CJK system font is installed (a fresh Linux
box, CI) ships its own font from the same origin (the CSP allows `font-src 'self'`):
the static Noto Sans SC Regular the contract PDFs embed (`fonts.static_font_path()`,
SIL Open Font License, `fonts.licence_path()`), cut down with fontTools to the
characters that page can print. A `WebFontSubset` names such a subset:

- `family`: the CSS family name its @font-face gives it. Not "Noto Sans SC", so a
  machine with that font installed still uses the file and a test can tell the faces apart;
- `stem`: the start of its file name, which is also its URL's last segment;
- `characters`: a function returning what the page can print (read once per process);
- `recipe`: bumped when the page changes how its characters are chosen or cut.

The subset is a WOFF file (zlib; WOFF2 needs brotli, not a dependency), about 0.1 MB
against the 10.6 MB static font. It is made once per machine, next to the static font,
named `<stem>-<version>.woff` where the version hashes what it is made from (the static
font's name, the recipe and the characters): a new font package, recipe or character
makes a new name, so the URL can be served with a year-long immutable cache and an old
file is never reused. Its bytes are read once per process. Making it needs the static
font, which a cold FONT_CACHE_DIR makes first (seconds): pages declare
`font-display: swap` so they never wait for it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
from collections.abc import Callable
from functools import cached_property
from pathlib import Path

logger = logging.getLogger(__name__)

CONTENT_TYPE = "font/woff"
CACHE_CONTROL = "public, max-age=31536000, immutable"

# make(source TrueType font, target WOFF file, characters)
MakeSubset = Callable[[Path, Path, str], None]


def make_subset(source: Path, target: Path, characters: str) -> None:
    """Write the WOFF subset of the TrueType font `source` holding `characters`."""
    from fontTools import subset  # type: ignore[import-untyped]

    options = subset.Options()
    options.flavor = "woff"
    options.recalc_timestamp = False  # the same bytes from the same font and characters
    font = subset.load_font(str(source), options, lazy=True)
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=characters)
    subsetter.subset(font)
    subset.save_font(font, str(target), options)


def printable_ascii() -> set[str]:
    """The printable ASCII characters, space included: English labels, amounts, ids."""
    return {chr(code) for code in range(0x20, 0x7F)}


def beyond_ascii(text: str) -> set[str]:
    """The characters of `text` outside ASCII, blanks aside: a page's fixed Chinese."""
    return {char for char in text if ord(char) > 0x7E and not char.isspace()}


class WebFontSubset:
    """One page family's subset of the contract font: its name, file and bytes."""

    def __init__(self, family: str, stem: str, characters: Callable[[], str], recipe: int) -> None:
        self.family = family
        self.stem = stem
        self.recipe = recipe
        self._characters = characters
        self._lock = threading.Lock()
        self._bytes: bytes | None = None

    @cached_property
    def characters(self) -> str:
        """What the subset holds, sorted, without duplicates."""
        return "".join(sorted(set(self._characters())))

    @cached_property
    def file_name(self) -> str:
        """The subset's file name: its URL's last segment and its cache file. The first
        call of a process imports the font package's versions (half a second)."""
        from services.kit import fonts

        made_from = f"{fonts.cache_name()}\n{self.recipe}\n{self.characters}"
        version = hashlib.sha256(made_from.encode()).hexdigest()[:16]
        return f"{self.stem}-{version}.woff"

    def cached_path(self, make: MakeSubset = make_subset) -> Path:
        """The subset in the font cache directory, made there if it is not yet; in a
        per-user temporary directory when that one is read-only for this process."""
        from services.kit import fonts

        static = fonts.static_font_path()  # seconds the first time on a machine
        try:
            return self.subset_in(static.parent, static, make)
        except PermissionError as error:  # the static font is there, but read-only for us
            fallback = Path(tempfile.gettempdir()) / f"lendbridge-fonts-{os.getuid()}"
            logger.warning("Cannot write to %s (%s): using %s", static.parent, error, fallback)
            fallback.mkdir(parents=True, exist_ok=True)
            return self.subset_in(fallback, static, make)

    def subset_in(self, directory: Path, static: Path, make: MakeSubset = make_subset) -> Path:
        """The subset in `directory`, made from the font `static` if it is not there."""
        target = directory / self.file_name
        if target.exists():
            return target
        logger.info("Making the web font %s (%s)", target, self.family)
        # Processes making it together each write their own temporary file and rename it
        # into place: the same bytes, and no one reads half a file.
        handle, temporary = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".woff")
        os.close(handle)
        try:
            make(static, Path(temporary), self.characters)
            os.chmod(temporary, 0o644)
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return target

    def font_bytes(self) -> bytes:
        """The subset's bytes, read (or made) once per process. Blocking: the first call
        may make the file; call it from a worker thread."""
        with self._lock:
            if self._bytes is None:
                self._bytes = self.cached_path().read_bytes()
            return self._bytes
