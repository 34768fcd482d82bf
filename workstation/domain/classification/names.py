"""Names and salts: how drug names are folded into keys, and the lexicon of known substances.

A substance is known by every name the lists, the built-in table and the formulary give it, in
English and Chinese, with and without salt words; isomers of listed substances are found from
their prefixes (dex-, lev-, es-, 右-, 左-, 艾司-).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from typing import Final


# Longer text is not a drug name (a pasted document, an attack); it is cut so a review cannot stall on it.
MAX_NAME_CHARS: Final = 300

# Salt and ester words removed from English names ("Oxycodone Hydrochloride" is oxycodone).
_EN_SALTS: Final = frozenset({
    "hydrochloride", "hcl", "dihydrochloride", "hydrobromide", "hbr", "sulfate", "sulphate", "bisulfate",
    "tartrate", "bitartrate", "hemitartrate", "citrate", "phosphate", "diphosphate", "besylate", "besilate",
    "maleate", "fumarate", "hemifumarate", "mesylate", "mesilate", "dimesylate", "succinate", "acetate",
    "lactate", "gluconate", "tosylate", "napsylate", "pamoate", "embonate", "bromide", "chloride", "nitrate",
    "carbonate", "oxalate", "hyclate", "xinafoate", "edisylate", "camsylate", "esylate", "isethionate",
    "valerate", "cypionate", "enanthate", "undecanoate", "benzoate", "sodium", "disodium", "potassium",
    "calcium", "magnesium", "monohydrate", "dihydrate", "trihydrate", "hemihydrate", "sesquihydrate",
    "hydrate",
    "anhydrous", "hydrogen", "dihydrogen", "aspartate", "saccharate", "adipate", "tannate", "polistirex",
})
# Acid-salt words before a Chinese name (盐酸羟考酮 is oxycodone), longest first so 硫酸氢 wins over 硫酸.
_ZH_SALT_PREFIXES: Final = tuple(sorted((
    "盐酸", "二盐酸", "氢溴酸", "氢碘酸", "硫酸", "硫酸氢", "重酒石酸", "酒石酸", "枸橼酸",
    "柠檬酸", "马来酸", "富马酸", "磷酸", "甲磺酸", "苯磺酸", "甲苯磺酸", "对甲苯磺酸", "琥珀酸",
    "醋酸", "乳酸", "硝酸", "葡萄糖酸",
    "门冬氨酸", "双羟萘酸", "草酸", "戊酸", "苯甲酸", "环戊丙酸", "庚酸", "十一酸", "水杨酸",
), key=len, reverse=True))
_ZH_CATION_SUFFIXES: Final = ("钠", "钾", "钙", "镁")
# Isomer prefixes: INN (dextro-, levo-, es-, ar-) and Chinese (右旋, 左旋, 艾司, 右, 左); single letters as
# separate words ("l-methadone"). A prefix only counts when what follows is a listed name.
_EN_ISOMER_PREFIXES: Final = ("dextro", "levo", "dex", "lev", "es", "ar")
_EN_ISOMER_WORDS: Final = frozenset({"d", "l", "dl", "r", "s", "rac"})
_ZH_ISOMER_PREFIXES: Final = ("右旋", "左旋", "消旋", "艾司", "右", "左")
_RACEMATE_EN: Final = ("race", "rac")
_RACEMATE_ZH: Final = ("消旋",)

_PAREN: Final = re.compile(r"[(（【〔][^()（）【】〔〕]*[)）】〕]")
PAREN_CONTENT: Final = re.compile(r"[(（]([^()（）]*)[)）]")
BRACKETED: Final = re.compile(r"\[[^\[\]]*\]|\{[^{}]*\}")
ZH_KEEP: Final = re.compile(r"[^\w\[\]]|_")
_CJK: Final = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")

# Nuclides of radiopharmaceuticals, as written in names ([131I], (18F), I-131, Tc-99m): a product naming one
# is a radioactive drug whether or not the list names the product.
NUCLIDES: Final = frozenset({
    "18f", "99mtc", "131i", "125i", "123i", "67ga", "68ga", "201tl", "89sr", "223ra", "177lu", "90y", "153sm",
    "32p", "111in", "133xe", "11c", "14c", "13n", "15o", "82rb", "51cr", "57co", "58co", "169er", "186re",
    "188re",
})
_NUCLIDE_BRACKET: Final = re.compile(r"[\[(]\s*(\d{1,3}m?)\s*([a-z]{1,2})\s*[\])]")
_NUCLIDE_DASH: Final = re.compile(r"(?<![a-z])([a-z]{1,2})\s*-\s*(\d{1,3}m?)(?![\w])")
# English words: a nuclide ("131i", written I-131 or (131I)) is one word, so sodium iodide I-131 is never
# plain sodium iodide.
EN_TOKEN: Final = re.compile(
    "(?:" + "|".join(sorted(NUCLIDES, key=len, reverse=True)) + r")(?![a-z0-9])"
    r"|\d+(?:\.\d+)?|[^\W\d_]+|[/%+&;]"
)


def compact_nuclides(folded: str) -> str:
    """I-131, (131I), [131I] → " 131i " in English text, so each spelling gives the same words."""
    def bracket(m: re.Match[str]) -> str:
        word = m.group(1) + m.group(2)
        return f" {word} " if word in NUCLIDES else m.group(0)

    def dash(m: re.Match[str]) -> str:
        word = m.group(2) + m.group(1)
        return f" {word} " if word in NUCLIDES else m.group(0)

    return _NUCLIDE_DASH.sub(dash, _NUCLIDE_BRACKET.sub(bracket, folded))


# Spelling differences and compound partners the lists do not spell out: INN / USAN (RxNorm) / Chinese
# approved names. The first English name is the one shown.
BUILTIN_SUBSTANCES: Final[tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]] = (
    (("paracetamol", "acetaminophen", "apap"), ("对乙酰氨基酚", "扑热息痛")),
    (("ibuprofen",), ("布洛芬",)),
    (("naloxone",), ("纳洛酮",)),
    (("acetylsalicylic acid", "aspirin"), ("阿司匹林", "乙酰水杨酸")),
    (("chlorphenamine", "chlorpheniramine"), ("氯苯那敏", "扑尔敏")),
    (("guaifenesin", "guaiphenesin"), ("愈创木酚甘油醚", "愈创甘油醚")),
    (("promethazine",), ("异丙嗪",)),
    (("amantadine",), ("金刚烷胺",)),
    (("doxylamine",), ("多西拉敏",)),
    (("diphenhydramine",), ("苯海拉明",)),
    (("glycyrrhiza", "liquorice", "licorice"), ("甘草",)),
    (("platycodon",), ("桔梗",)),
    (("camphor",), ("樟脑",)),
    (("artificial bezoar",), ("人工牛黄",)),
    (("sodium benzoate",), ("苯甲酸钠",)),
    (("noscapine",), ("那可丁",)),
    (("clavulanic acid", "clavulanate"), ("克拉维酸",)),
    (("pethidine", "meperidine"), ("哌替啶", "度冷丁")),
    (("salbutamol", "albuterol"), ("沙丁胺醇",)),
    (("epinephrine", "adrenaline"), ("肾上腺素",)),
    (("scopolamine", "hyoscine"), ("东莨菪碱",)),
    (("valproic acid", "valproate"), ("丙戊酸",)),
    (("mesalazine", "mesalamine"), ("美沙拉秦", "美沙拉嗪")),
    (("glibenclamide", "glyburide"), ("格列本脲",)),
    (("benzylpenicillin", "penicillin g"), ("青霉素",)),
    (("dexamfetamine", "dextroamphetamine"), ("右苯丙胺",)),
    (("amfetamine", "amphetamine"), ("苯丙胺",)),
    (("insulin",), ("胰岛素",)),
)
# Abbreviations of Chinese compound names (《中国药品通用名称命名原则》): 氨酚 = 对乙酰氨基酚 …
ZH_ABBREVIATIONS: Final[Mapping[str, str]] = {
    "氨酚": "paracetamol", "洛芬": "ibuprofen", "待因": "codeine", "伪麻": "pseudoephedrine",
    "美芬": "dextromethorphan", "那敏": "chlorphenamine", "烷胺": "amantadine",
}
# Chinese compound names built from one-character abbreviations, which are never segmented on their own.
ZH_COMPOUNDS: Final[Mapping[str, tuple[str, ...]]] = {
    "酚麻美敏": ("paracetamol", "pseudoephedrine", "dextromethorphan", "chlorphenamine"),
    "氨麻美敏": ("paracetamol", "pseudoephedrine", "dextromethorphan", "chlorphenamine"),
    "美扑伪麻": ("dextromethorphan", "chlorphenamine", "pseudoephedrine"),
    "氨咖黄敏": ("paracetamol", "caffeine", "artificial bezoar", "chlorphenamine"),
    "酚咖": ("paracetamol", "caffeine"),
    "可愈": ("codeine", "guaifenesin"),
    "阿桔": ("opium", "platycodon"),
    "安钠咖": ("caffeine", "sodium benzoate"),
}


def fold(text: str) -> str:
    """NFKC (full-width to half-width), case-folded, cut to a sane length."""
    return unicodedata.normalize("NFKC", text[: MAX_NAME_CHARS * 2]).casefold()[:MAX_NAME_CHARS]


def zh_key(folded: str) -> str:
    return ZH_KEEP.sub("", folded)


def has_cjk(text: str) -> bool:
    return _CJK.search(text) is not None


def words_of(folded: str) -> list[str]:
    return [t for t in EN_TOKEN.findall(compact_nuclides(folded)) if t not in "/%+&;"]


def en_salt_free(words: Sequence[str]) -> list[str]:
    kept = [w for w in words if w not in _EN_SALTS]
    return kept if kept else list(words)


def zh_salt_variants(key: str) -> list[str]:
    """``key`` without its acid-salt prefix or cation suffix (盐酸羟考酮 → 羟考酮, 华法林钠 → 华法林)."""
    variants: list[str] = []
    core = key
    changed = True
    while changed:
        changed = False
        for prefix in _ZH_SALT_PREFIXES:
            if core.startswith(prefix) and len(core) - len(prefix) >= 2:
                core = core[len(prefix):]
                changed = True
                break
    if core != key:
        variants.append(core)
    for suffix in _ZH_CATION_SUFFIXES:
        # 葡萄糖酸钙 is calcium: a cation after an acid name is the drug itself, not a salt of it.
        if core.endswith(suffix) and len(core) - 1 >= 2 and not core[:-1].endswith("酸"):
            variants.append(core[:-1])
            break
    return variants


def strip_paren(text: str) -> str:
    previous = None
    while previous != text:
        previous = text
        text = _PAREN.sub("", text)
    return text


def nuclide_in(folded: str) -> str | None:
    for m in _NUCLIDE_BRACKET.finditer(folded):
        if m.group(1) + m.group(2) in NUCLIDES:
            return f"{m.group(1)}{m.group(2)}"
    for m in _NUCLIDE_DASH.finditer(folded):
        if m.group(2) + m.group(1) in NUCLIDES:
            return f"{m.group(1)}-{m.group(2)}"
    return None


class Lexicon:
    """Every known substance name (English and Chinese, with and without salt words) → one substance id."""

    def __init__(self) -> None:
        self._parent: list[int] = []
        self._en: dict[str, int] = {}
        self._zh: dict[str, int] = {}
        self._best_en: dict[int, tuple[int, int, str]] = {}
        self._best_zh: dict[int, tuple[int, int, str]] = {}
        # Keys that are a name as written, not another name's salt-stripped variant, per table.
        self._primary: dict[int, set[str]] = {id(self._en): set(), id(self._zh): set()}
        self._trusted: set[int] = set()  # substances the lists or the built-in table name
        self._order = 0
        # filled by freeze()
        self.en: dict[str, int] = {}
        self.zh: dict[str, int] = {}
        self.display_en: dict[int, str] = {}
        self.display_zh: dict[int, str] = {}
        self.names: dict[int, tuple[str, ...]] = {}
        self.zh_vocabulary: dict[str, tuple[int, ...]] = {}
        self.zh_longest = 0
        self.en_vocabulary: dict[str, tuple[int, ...]] = {}
        self.en_longest = 0

    def _find(self, sid: int) -> int:
        while self._parent[sid] != sid:
            self._parent[sid] = self._parent[self._parent[sid]]
            sid = self._parent[sid]
        return sid

    @staticmethod
    def en_keys(name: str) -> list[str]:
        """The name's key (its words), then its key without salt words."""
        words = words_of(fold(name))
        if not words:
            return []
        keys = [" ".join(words)]
        stripped = " ".join(en_salt_free(words))
        if stripped != keys[0]:
            keys.append(stripped)
        return keys

    @staticmethod
    def zh_keys(name: str) -> list[str]:
        """The name's key, then its variants: without salt words, without γ-, with a cation after an acid."""
        key = zh_key(fold(name))
        if not key:
            return []
        keys = [key, *zh_salt_variants(key)]
        for greek in ("γ", "gamma"):  # γ-羟丁酸 is written 羟丁酸 too
            if key.startswith(greek) and len(key) - len(greek) >= 2:
                keys.append(key[len(greek):])
        for acid in list(keys):
            if acid.endswith("酸"):  # a listed acid covers its salts: 羟丁酸钠, 夫西地酸钠
                keys.extend(acid + cation for cation in _ZH_CATION_SUFFIXES)
        return list(dict.fromkeys(keys))

    def add(self, en: Iterable[str], zh: Iterable[str], *, priority: int, trusted: bool) -> int | None:
        """Register names of one substance; ``None`` when untrusted names would join two known substances."""
        en_names = [n for n in en if n.strip()]
        zh_names = [n for n in zh if n.strip()]
        keyed = [(self._en, k, i == 0) for n in en_names for i, k in enumerate(self.en_keys(n))]
        keyed += [(self._zh, k, i == 0) for n in zh_names for i, k in enumerate(self.zh_keys(n))]
        if not keyed:
            return None
        found: set[int] = set()
        for table, key, exact in keyed:
            if key in table:
                root = self._find(table[key])
                # A formulary name meets a known one as written, or a listed substance by its salt-stripped
                # variant; never another formulary name by a variant: 硝酸甘油 strips to 甘油 (glycerol).
                # A missed meeting makes a drug unknown (fail closed); a false one would mislabel it.
                if trusted or root in self._trusted or (exact and key in self._primary[id(table)]):
                    found.add(root)
        if not trusted and len(found) > 1:
            # A formulary row pairing two names we know as different substances is a data error (columns in a
            # different order); joining them would give one drug the other's list rows.
            return None
        if found:
            sid = found.pop()
            for other in found:
                self._parent[self._find(other)] = sid
        else:
            sid = len(self._parent)
            self._parent.append(sid)
        if trusted:
            self._trusted.add(sid)
        for table, key, exact in keyed:
            primary = self._primary[id(table)]
            if exact and key not in primary:
                table[key] = sid  # a name as written wins over another name's salt-stripped variant
                primary.add(key)
            else:
                table.setdefault(key, sid)
        for name in en_names:
            self._order += 1
            display = " ".join(fold(name).split())
            if display:
                self._best_en.setdefault(sid, (priority, self._order, display))
                self._best_en[sid] = min(self._best_en[sid], (priority, self._order, display))
        for name in zh_names:
            self._order += 1
            display = unicodedata.normalize("NFKC", name).strip()
            self._best_zh.setdefault(sid, (priority, self._order, display))
            self._best_zh[sid] = min(self._best_zh[sid], (priority, self._order, display))
        return sid

    def freeze(self, abbreviations: Mapping[str, str]) -> None:
        """Resolve every key to its substance and build the vocabularies compound names are cut into."""
        self.en = {k: self._find(s) for k, s in self._en.items()}
        self.zh = {k: self._find(s) for k, s in self._zh.items()}
        for sid, (_, _, name) in sorted(self._best_en.items(), key=lambda item: item[1]):
            self.display_en.setdefault(self._find(sid), name)
        for sid, (_, _, name) in sorted(self._best_zh.items(), key=lambda item: item[1]):
            self.display_zh.setdefault(self._find(sid), name)
        names: dict[int, list[str]] = {}
        for sid, name in (*self.display_en.items(), *self.display_zh.items()):
            names.setdefault(sid, []).append(name)
        self.names = {sid: tuple(dict.fromkeys(n)) for sid, n in names.items()}
        self.zh_vocabulary = {k: (s,) for k, s in self.zh.items() if len(k) >= 2}
        for short, en_name in abbreviations.items():
            meant = self.lookup_en(en_name)
            if meant is not None:
                self.zh_vocabulary.setdefault(short, (meant,))
        self.zh_longest = max((len(k) for k in self.zh_vocabulary), default=0)
        self.en_vocabulary = {k: (s,) for k, s in self.en.items()}
        self.en_longest = max((k.count(" ") + 1 for k in self.en_vocabulary), default=0)

    def lookup_en(self, name: str) -> int | None:
        for key in self.en_keys(name):
            if key in self.en:
                return self.en[key]
        return None

    def lookup_zh(self, name: str) -> int | None:
        key = zh_key(fold(name))
        return self.zh.get(key)

    def display(self, sid: int) -> str:
        return self.display_en.get(sid) or self.display_zh.get(sid) or f"#{sid}"

    def bilingual(self, sid: int) -> tuple[str, str]:
        """(Chinese, English) names for evidence, each falling back to the other."""
        en = self.display_en.get(sid)
        zh = self.display_zh.get(sid)
        return (f"{zh} ({en})" if zh and en else zh or en or f"#{sid}"), (en or zh or f"#{sid}")


class Isomers:
    """Which known substances are isomers of listed ones, and the names isomers are derived from.

    Found once the list rules are known (:meth:`find`); until then there are none.
    """

    def __init__(self) -> None:
        self.listed_en: dict[str, int] = {}  # a listed substance's English key (and its enantiomers') → it
        self.listed_zh: dict[str, int] = {}
        self.isomer_of: dict[int, int] = {}  # an unlisted substance → the listed substance it is an isomer of
        self.family_root: dict[int, int] = {}  # a listed isomer of a listed parent (右苯丙胺 of 苯丙胺) → the parent

    @classmethod
    def find(cls, lex: Lexicon, listed: set[int]) -> Isomers:
        """The lexicon's isomers of the ``listed`` substances (those whose list rows carry their isomers)."""
        found = cls()
        for key, sid in lex.en.items():
            if sid in listed:
                found.listed_en.setdefault(key, sid)
                for race in _RACEMATE_EN:  # racemethorphan: its enantiomers levomethorphan, dextromethorphan
                    if key.startswith(race) and len(key) - len(race) >= 4:
                        found.listed_en.setdefault(key[len(race):], sid)
        for key, sid in lex.zh.items():
            if sid in listed:
                found.listed_zh.setdefault(key, sid)
                for race in _RACEMATE_ZH:
                    if key.startswith(race) and len(key) - len(race) >= 2:
                        found.listed_zh.setdefault(key[len(race):], sid)
        # Listed isomers of a listed parent (右苯丙胺 of 苯丙胺): one substance when they meet in one product.
        for key, sid in lex.en.items():
            if sid in listed and sid not in found.family_root:
                parent = found.parent_en(key.split(" "))
                if parent is not None and parent != sid:
                    found.family_root[sid] = parent
        for key, sid in lex.en.items():
            if sid not in listed and sid not in found.isomer_of:
                parent = found.parent_en(key.split(" "))
                if parent is not None and parent != sid:
                    found.isomer_of[sid] = parent
        for key, sid in lex.zh.items():
            if sid not in listed and sid not in found.isomer_of:
                parent = found.parent_zh(key)
                if parent is not None and parent != sid:
                    found.isomer_of[sid] = parent
        return found

    def parent_en(self, words: Sequence[str]) -> int | None:
        """The listed substance an English name (as words) is an isomer of: dextro-, levo-, es-, "l-"…"""
        if not words:
            return None
        first, rest = words[0], list(words[1:])
        if first in _EN_ISOMER_WORDS and rest:
            key = " ".join(rest)
            return self.listed_en.get(key)
        for prefix in _EN_ISOMER_PREFIXES:
            if first.startswith(prefix) and len(first) - len(prefix) >= 4:
                key = " ".join([first[len(prefix):], *rest])
                if key in self.listed_en:
                    return self.listed_en[key]
        return None

    def parent_zh(self, key: str) -> int | None:
        """The listed substance a Chinese key is an isomer of: 右旋-, 左旋-, 艾司-…"""
        for prefix in _ZH_ISOMER_PREFIXES:
            if key.startswith(prefix) and len(key) - len(prefix) >= 2:
                base = key[len(prefix):]
                for variant in (base, *zh_salt_variants(base)):
                    if variant in self.listed_zh:
                        return self.listed_zh[variant]
        return None
