"""The sandbox bank pages' own CJK web font: a small subset of the contract font.

The pages (bank_pages.py) are read on machines without any CJK system font, where a
browser draws the Chinese as boxes. So they ship a font, from the same origin as the
pages (the CSP allows `font-src 'self'`): Noto Sans SC Regular (SIL Open Font License,
`services.kit.fonts.licence_path()`), the static instance the contract PDFs embed
(`fonts.static_font_path()`, in FONT_CACHE_DIR), cut down with fontTools to the
characters the pages can print:

- every character of bank_pages.py's own source text outside ASCII (so every fixed
  Chinese label, ¥, ·, — and the full-width punctuation, including labels added later),
- printable ASCII (the English labels, amounts, references),
- the first character of a masked holder name: the common surnames (`SURNAMES`, the
  first character of the compound ones too). A holder whose surname is not among
  them gets that one character from the browser's own fonts.

The subset is a WOFF file (zlib; WOFF2 needs brotli, not a dependency), about 0.1 MB
against the 10.6 MB static font. It is made once per machine, next to the static font,
named after what it is made from (the static font's name, the characters and RECIPE),
and read once per process; its URL carries the same version, so it is served with a
year-long immutable cache. Making it needs the static font, which a cold FONT_CACHE_DIR
makes first (seconds); the pages themselves never wait for it: the browser shows its
own fonts until the web font arrives (`font-display: swap`).
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
from functools import cache
from pathlib import Path

logger = logging.getLogger(__name__)

# The family name bank_pages.css gives the face: not "Noto Sans SC", so that a machine
# with that font installed still uses this file and a test can tell which face it sees.
FAMILY = "Sandbox Bank Sans SC"
# In bank_pages.css, replaced by the versioned file name when the stylesheet is served.
CSS_PLACEHOLDER = b"bank-font.woff"
CONTENT_TYPE = "font/woff"
CACHE_CONTROL = "public, max-age=31536000, immutable"
# Bumped when the way the subset is made changes, so old cache files are not reused.
RECIPE = 1

# The common Chinese surnames (the census' top ones and the rest of the usual 百家姓
# list), and the first character of the usual compound surnames.
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余"
    "杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史"
    "陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟"
    "殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游"
    "辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫"
    "费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬师和仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明"
    "佘池查麻苑迟邝官封谈匡鞠惠荆乐冀郁胥南班储原栗燕楚鄢劳谌奚皮粟冼蔺楼盘满闻位厉伊仝"
    "区郜海阚花权强帅屠豆朴盖练廉禹井祖漆巴丰支卿国狄平计索宣晋相初门云容敬来扈晁芮都普"
    "阙浦戈伏鹿薄邸雍辜羊阿乌母裘亓修邰赫杭况那宿鲜印逯隆茹诸战慕危玉银亢嵇公哈湛宾戎勾"
    "茅利於呼居揭干但尉冶斯元束檀衣信展阴昝智幸奉植衡富尧闭由"
    "欧司诸上东皇尉公慕令长宇夏端独南西轩呼拓澹淳百"
)
PUNCTUATION = "，。、；：？！（）“”‘’《》【】…—·¥￥"  # noqa: RUF001


def page_characters() -> str:
    """Every character the bank pages can print, sorted, without duplicates."""
    source = Path(__file__).with_name("bank_pages.py").read_text(encoding="utf-8")
    fixed = {char for char in source if ord(char) > 0x7E and not char.isspace()}
    ascii_printable = {chr(code) for code in range(0x20, 0x7F)}
    return "".join(sorted(fixed | ascii_printable | set(PUNCTUATION) | set(SURNAMES)))


@cache
def file_name() -> str:
    """The subset's file name: its URL under /sandbox-bank/font/ and its cache file."""
    from services.kit import fonts

    made_from = f"{fonts.cache_name()}\n{RECIPE}\n{page_characters()}"
    version = hashlib.sha256(made_from.encode()).hexdigest()[:16]
    return f"sandbox-bank-sc-{version}.woff"


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


def _cached_subset() -> Path:
    """The subset in the font cache directory, made there if it is not yet."""
    from services.kit import fonts

    static = fonts.static_font_path()  # seconds the first time on a machine
    try:
        return _subset_in(static.parent, static)
    except PermissionError as error:  # the static font is there, but read-only for us
        fallback = Path(tempfile.gettempdir()) / f"lendbridge-fonts-{os.getuid()}"
        logger.warning("Cannot write to %s (%s): using %s", static.parent, error, fallback)
        fallback.mkdir(parents=True, exist_ok=True)
        return _subset_in(fallback, static)


def _subset_in(directory: Path, static: Path) -> Path:
    target = directory / file_name()
    if target.exists():
        return target
    logger.info("Making the sandbox bank font %s", target)
    # Processes making it together each write their own temporary file and rename it
    # into place: the same bytes, and no one reads half a file.
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".woff")
    os.close(handle)
    try:
        make_subset(static, Path(temporary), page_characters())
        os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


_lock = threading.Lock()
_font: bytes | None = None


def font_bytes() -> bytes:
    """The subset's bytes, read (or made) once per process. Blocking: the first call
    may make the file; call it from a worker thread."""
    global _font
    with _lock:
        if _font is None:
            _font = _cached_subset().read_bytes()
        return _font
