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

How the subset is made, cached and versioned is services/kit/web_fonts.py (the
dashboard's font is made the same way): a WOFF file of about 0.1 MB, made once per
machine next to the static font, named after what it is made from, read once per
process, and served at that versioned name with a year-long immutable cache; the pages
never wait for it (`font-display: swap`).
"""

from __future__ import annotations

import threading
from pathlib import Path

from services.kit import web_fonts

# The family name bank_pages.css gives the face: not "Noto Sans SC", so that a machine
# with that font installed still uses this file and a test can tell which face it sees.
FAMILY = "Sandbox Bank Sans SC"
# In bank_pages.css, replaced by the versioned file name when the stylesheet is served.
CSS_PLACEHOLDER = b"bank-font.woff"
CONTENT_TYPE = web_fonts.CONTENT_TYPE
CACHE_CONTROL = web_fonts.CACHE_CONTROL
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
    fixed = web_fonts.beyond_ascii(source)
    return "".join(sorted(fixed | web_fonts.printable_ascii() | set(PUNCTUATION) | set(SURNAMES)))


WEB_FONT = web_fonts.WebFontSubset(FAMILY, "sandbox-bank-sc", page_characters, RECIPE)
make_subset = web_fonts.make_subset


def file_name() -> str:
    """The subset's file name: its URL under /sandbox-bank/font/ and its cache file."""
    return WEB_FONT.file_name


def _cached_subset() -> Path:
    """The subset in the font cache directory, made there if it is not yet."""
    return WEB_FONT.cached_path(make_subset)


def _subset_in(directory: Path, static: Path) -> Path:
    return WEB_FONT.subset_in(directory, static, make_subset)


# Read once per process here (not in WEB_FONT) so the tests can start it afresh.
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
