"""Keys for duplicate detection: exact identity keys and fuzzy blocking keys. Pure.

Two kinds of key, both derived from a customer as submitted:

* **Exact keys** (``exact_keys``): each registry id (``uscc:9144…``), the normalised name key
  (``name:华为技术``) and the website domain (``domain:huawei.com``). Two customers sharing one of these are
  the same customer with near certainty, so intake claims them first come, first served
  (``store.registrations.create``) and a check looks them up before anything fuzzy.
* **Blocking keys** (``blocking_keys``): cheap, overlapping fragments of the normalised name used to find
  fuzzy *candidates* without comparing against every customer: CJK bigrams (``g:京东``), Latin trigrams of
  the name with spaces removed (``t:wal`` — so "Wal-Mart" and "Walmart" share all of them), whole Latin
  words (``w:motors``) and the initials of a multi-word name (``a:ibm``, so an acronym finds its long
  form). Conjunctive keys stay rare where every single fragment is common (in a million names "general"
  and "motors" are each carried by thousands, "general motors" by a few): CJK trigrams (``h:京东方``),
  pairs of neighbouring Latin words (``p:general motors``) and each one-letter deletion of the first word
  with the word after it (``e:genral motors``, so a typo in a common brand still meets a rare key).
  A Chinese name is also indexed under the pinyin of its leading characters (``w:huawei`` for 华为技术), so
  a check for the Latin name "Huawei" meets it (see :func:`romanised_prefixes`).
  Keys shared by too many customers are skipped at query time by the candidate selector (they do not
  discriminate); that decision needs the key's frequency, so it lives with the index, not here.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from chalicelib.domain import names

__all__ = [
    "NameForms", "blocking_keys", "contact_keys", "exact_keys", "han_syllables", "name_forms", "romanised_prefixes",
    "website_domain",
]

# Registry schemes whose values are not globally unique on their own ("other" can be anything).
_AMBIGUOUS_SCHEMES = frozenset({"other"})
# Words that carry no identity in an acronym ("Procter and Gamble" -> "pg", "Bank of America" -> "ba").
_ACRONYM_SKIP = frozenset({"and", "of", "the", "for", "und", "de", "des", "du", "la", "le", "et"})
_MIN_ACRONYM = 2
_MAX_ACRONYM = 6
_MAX_INITIALS_WORD = 5
_TRIGRAM = 3
_PHONE_DIGITS = 10
_DELETION_WORDS = 2
_MIN_DELETION_WORD = 4
_MAX_DELETION_WORD = 12
_MIN_PHONE_DIGITS = 7
_PAIR_WORDS = 4  # word pairs from the first four words (three pairs)
# Romanisation: pinyin of the first 2..5 Han characters; shorter spellings than 4 letters ("ali") are too
# ambiguous to be a key or a match.
_PINYIN_MIN_CHARS = 2
_PINYIN_MAX_CHARS = 5
_PINYIN_MIN_LETTERS = 4
# A customer is stored under the first two spellings of its leading characters (a Chinese brand is two or
# three characters: "huawei", "huaweiji" for 华为技术; "aliba", "alibaba" for 阿里巴巴, "ali" being too short).
_PINYIN_STORED_SPELLINGS = 2
_STORED_CJK_TRIGRAMS = 4  # a CJK name is stored under the trigrams of its first six characters only
_STORED_TRIGRAMS = 1  # a customer's Latin part is stored under its first trigram only
_STORED_PAIRED_DELETIONS = 6  # e: keys stored for deletions in the first six letters (and the word itself)
_PHRASE_MAX = 4
# Skip pairs ("s:") of an all-Chinese name: its first character with each of the next seven.
_SKIP_SPAN = 8


@dataclass(frozen=True)
class NameForms:
    """The comparison forms of one company name.

    Attributes:
        core: ``names.normalise(name).core`` (words spaced, CJK runs unspaced), with a trailing web
            suffix (".com") taken off ("Amazon.com, Inc." -> "amazon").
        compact: ``core`` without spaces.
        acronym: initials of a multi-word Latin core ("international business machines" -> "ibm"), or
            for a name written as initials ("IBM", "P&G") its letters ("ibm", "pg"); else "".
        initials: True when the name itself is written as initials.
        script: ``"cjk"``, ``"mixed"`` or ``"latin"`` (from the normaliser).
        region: the region taken off, in pinyin so that both scripts compare (``"sichuan"`` for 四川黄金,
            ``"hangzhou"`` for 阿里云计算（杭州） and for "Hangzhou Yitong New Materials"), else None.
    """

    core: str
    compact: str
    acronym: str
    initials: bool
    script: str
    region: str | None = None
    legal_form: bool = False  # a legal form was taken off ("元力股份" -> "元力")
    # Written like an exchange short name: a market marker (ST, *ST), a share class (A, B) or a bare
    # 股份 was taken off ("ST华通", "张裕A", "国安股份"), the listing's abbreviation of a registered name.
    listing_mark: bool = False
    # A registered legal form (有限公司, 股份有限公司, Ltd) was taken off: a full name, not an abbreviation.
    registered: bool = False

    def region_conflict(self, other: NameForms) -> bool:
        """Both names name a region, and not the same one: different legal entities, whatever the rest."""
        return bool(self.region and other.region and self.region != other.region)


# A company named after its web address ("Amazon.com", "Salesforce.com"): the suffix is not part of the
# name people use. Only generic and a few large country TLDs, and only once.
_WEB_SUFFIX = re.compile(r"(?<=[^\W_])\.(?:com|net|org|cn|io)\b", re.IGNORECASE)


# Chinese stock-exchange markers written in front of a listed company's short name (ST, *ST, S*ST, SST:
# special treatment; N: first trading day; C: newly listed; XD/XR/DR: ex-dividend/ex-rights). They are
# not part of the name ("ST西发", "*ST华通", "N马可波罗").
# Case is ignored for the marker only (a scoped flag): folding case over the Han range cost ~3 ms at import.
_MARKET_MARKER = r"^\s*(?i:\*?S?\*?ST|XD|XR|DR|N|C)\s*(?=[\u3400-\u9fff])"
# Every character the marker can start with after the spaces ("ſ" folds to "s" when case is ignored).
_MARKET_MARKER_FIRST = frozenset("*SsXxDdNnCc\u017f")
# The share class written after the short name of a company that also lists B (or H) shares ("张裕Ａ",
# "深桑达Ａ", "粤高速B"): capital A/B right after Han characters, at the very end (full width or not).
_SHARE_CLASS = r"(?<=[\u3400-\u9fff])\s*[AB\uff21\uff22]\s*$"
_SHARE_CLASS_LAST = frozenset("AB\uff21\uff22")
# The one legal form an exchange short name carries ("国安股份"); any other form marks a registered name.
_SHORT_NAME_FORM = "股份"
# Latin names of Chinese companies start with their region in pinyin ("Hangzhou Yitong New Materials",
# "SHENZHEN KTC TECHNOLOGY"): taken off like a Chinese region prefix when a name of two words remains.
_MIN_WORDS_AFTER_REGION = 1


@lru_cache(maxsize=2)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _listing_marks_removed(text: str) -> str:
    """``text`` without an exchange's market marker in front and share class at the end. Each pattern is
    compiled on the first name that could carry its mark (~1 ms each: the Han range), so a cold dedup function
    whose first name starts and ends with Han characters compiles neither (issue 15 item 1)."""
    if text.lstrip()[:1] in _MARKET_MARKER_FIRST:
        text = _compiled(_MARKET_MARKER).sub("", text, count=1)
    if text.rstrip()[-1:] in _SHARE_CLASS_LAST:
        text = _compiled(_SHARE_CLASS).sub("", text, count=1)
    return text


def name_forms(name: str) -> NameForms:
    """Normalise ``name`` once and derive every form matching needs.

    Args:
        name: a company name as received.

    Returns:
        The ``NameForms``.
    """
    text = _WEB_SUFFIX.sub("", name, count=1)
    unmarked = _listing_marks_removed(text)
    normalised = names.normalise(unmarked)
    registered = any(form != _SHORT_NAME_FORM for form in normalised.legal_forms)
    listing_mark = unmarked != text or (not registered and bool(normalised.legal_forms)
                                        and normalised.script == "cjk")
    core = normalised.core
    if normalised.script == "latin":
        core = _latin_legal_forms_inside(core, "," in normalised.display)
    elif core.endswith(_HEAD_OFFICE) and len(core) > len(_HEAD_OFFICE) + 1:
        core = core[: -len(_HEAD_OFFICE)].rstrip()  # "…有限公司（总部）": the head office is the company
    region = _region_key(normalised.region) if normalised.region else None
    if normalised.script == "latin" and region is None:
        words = core.split(" ")
        first = _CONVENTIONAL_PLACE_SPELLINGS.get(words[0], words[0])
        if len(words) > _MIN_WORDS_AFTER_REGION and first in _pinyin_regions():
            region, core = first, " ".join(words[1:])
    acronym, initials = _acronym(core, normalised.display)
    return NameForms(core=core, compact=core.replace(" ", ""), acronym=acronym, initials=initials,
                     script=normalised.script, region=region, legal_form=bool(normalised.legal_forms),
                     listing_mark=listing_mark, registered=registered)


# Places that Chinese firms still write in English with a spelling older than Hanyu Pinyin, or from
# another language (written by us, from the places' common English names): the pinyin region they mean.
_CONVENTIONAL_PLACE_SPELLINGS = {
    "harbin": "haerbin", "tibet": "xizang", "urumqi": "wulumuqi", "hohhot": "huhehaote",
    "peking": "beijing", "canton": "guangzhou", "amoy": "xiamen", "tsingtao": "qingdao",
    "tientsin": "tianjin", "nanking": "nanjing", "chungking": "chongqing", "macau": "aomen", "macao": "aomen",
}
_HEAD_OFFICE = "总部"
# After a legal form in the middle of a Latin name, at most this many words are a trailing address
# ("NUTRICIA B.V., ALMELO, NL") or the rest of a register's inverted order ("BOSCH GMBH ROBERT").
_MAX_AFTER_FORM = 3


def _latin_legal_forms_inside(core: str, has_comma: bool) -> str:
    """Legal forms the normaliser leaves inside a Latin name, taken out.

    * In front ("N.V Nutricia", "NAAMLOZE VENNOOTSCHAP NUTRICIA"): the form goes.
    * In the middle, followed by at most three words: after a comma those words are a town and country
      (dropped with the form); without one, they are the rest of the name in a register's inverted order
      ("BOSCH GMBH ROBERT" -> "bosch robert"; word order is then left to ``token_sort_ratio``).
    """
    tokens = core.split(" ")
    if len(tokens) < 2:
        return core
    forms = names._tables().latin_suffix_forms
    longest = names._tables().latin_max_tokens
    for size in range(min(longest, len(tokens) - 1), 0, -1):
        if tuple(tokens[:size]) in forms and len("".join(tokens[:size])) >= 2 and tokens[0] not in ("co", "the"):
            tokens = tokens[size:]
            break
    for i in range(1, len(tokens) - 1):
        for size in range(min(longest, len(tokens) - i - 1), 0, -1):
            if tuple(tokens[i:i + size]) in forms and len(tokens) - i - size <= _MAX_AFTER_FORM:
                rest = tokens[i + size:]
                return " ".join(tokens[:i] + ([] if has_comma else rest))
    return " ".join(tokens)


def _region_key(region: str) -> str:
    """A region in one comparable spelling: the pinyin of a Chinese place ("杭州" -> "hangzhou"), else the
    folded text."""
    if region and names.is_cjk(region[0]):
        spelled = "".join(han_syllables(region, limit=len(region)))
        return spelled or region
    return region.casefold()


@lru_cache(maxsize=1)
def _pinyin_regions() -> frozenset[str]:
    """Pinyin spellings (one word) of the Chinese provinces and cities a name may start with (from the file
    ``make package`` writes, else derived: see :func:`pinyin_regions`)."""
    try:
        return frozenset(_data_file(PINYIN_REGIONS).read_text(encoding="utf-8").split())
    except FileNotFoundError:
        return pinyin_regions()


def pinyin_regions() -> frozenset[str]:
    """:func:`_pinyin_regions` derived from the place list and the romanisation table (the package step and
    the fallback)."""
    tables = names._tables()
    # Province-level regions without 省 (西藏自治区, 广西壮族自治区, 澳门特别行政区) are named by their start.
    regions = tuple(p for p in tables.places if p.endswith(("自治区", "特别行政区")))
    out = set()
    for place in tables.region_prefixes:
        bare = place[:-1] if place.endswith(("省", "市")) else place
        if len(bare) >= 2 and all(names.is_cjk(ch) for ch in bare) and (
                bare + "市" in tables.places or bare + "省" in tables.places
                or any(r.startswith(bare) for r in regions)):
            spelled = "".join(han_syllables(bare, limit=len(bare)))
            if len(spelled) >= 4:
                out.add(spelled)
    return frozenset(out)


def _acronym(core: str, display: str) -> tuple[str, bool]:
    words = [w for w in core.split(" ") if w and w not in _ACRONYM_SKIP]
    if not words or not all(w.isascii() and w.isalnum() for w in words):
        return "", False
    if len(words) == 1:
        # One short word is taken as initials only when written in capitals ("IBM", "KPMG", not "Sony").
        word = words[0]
        if _MIN_ACRONYM <= len(word) <= _MAX_INITIALS_WORD and word.isalpha() and word.upper() in display:
            return word, True
        return "", False
    if all(len(w) == 1 for w in words):  # "p and g", "a b c"
        letters = "".join(words)
        return (letters, True) if len(letters) <= _MAX_ACRONYM else ("", False)
    acronym = "".join(w[0] for w in words)
    return (acronym, False) if _MIN_ACRONYM <= len(acronym) <= _MAX_ACRONYM else ("", False)


_HOST_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789.-")


def website_domain(website: str | None) -> str | None:
    """The registrable-looking host of a website ("https://www.Huawei.com/cn" -> "huawei.com").

    Only ``www.`` is dropped: deciding the registrable domain for every public suffix would need the
    public suffix list, and sub-domains of a company site are rare in customer records.

    Args:
        website: as submitted (with or without scheme and path), or None.

    Returns:
        The lower-case host, or None when there is none.
    """
    if not website or not website.strip():
        return None
    text = website.strip().lower()
    if _HOST_CHARACTERS.issuperset(text):
        # The usual value, a bare host ("tencent.com"): with none of the characters that end or split a host
        # (":", "/", "@", "?", "#", "[") or that a URL parser drops, the whole text is the hostname ``urlsplit``
        # would give (issue 15 item 2, session 9: ~8k instructions per new registration; equal over generated
        # texts, tests/unit/domain/test_dedup.py).
        host = text
    else:
        host = urlsplit(text if "://" in text else f"http://{text}").hostname or ""
    host = host.rstrip(".")
    if host.startswith("www."):
        host = host[4:]
    return host if "." in host else None


def exact_keys(name: str, registry_ids: Iterable[tuple[str, str]] = (), website: str | None = None) -> list[str]:
    """The customer's exact identity keys, strongest first, without repeats.

    Args:
        name: the customer's name.
        registry_ids: ``(scheme, value)`` pairs (values already validated and canonical).
        website: the customer's website, if given.

    Returns:
        Keys such as ``uscc:91440300708461136T``, ``name:腾讯计算机系统``, ``domain:tencent.com``.
        A name with nothing comparable left gives no name key (blanks never match).
    """
    keys: list[str] = []
    for scheme, value in registry_ids:
        if scheme not in _AMBIGUOUS_SCHEMES and value:
            keys.append(f"{scheme}:{value}")
    key = names.name_key(name)
    if key:
        keys.append(f"name:{key}")
    domain = website_domain(website)
    if domain:
        keys.append(f"domain:{domain}")
    return list(dict.fromkeys(keys))


def blocking_keys(forms: NameForms, *, query: bool = False) -> list[str]:
    """Blocking keys of a normalised name, without repeats, in a stable order.

    A customer is stored under fewer keys than a check reads (issue 15 item 5: every stored key is a write
    per new customer). Where two stored keys would reach the same customers for every check, only one is
    stored and a check reads both namespaces; the keys a check reads are a superset of those it read before,
    so customers indexed under the older, larger key set are still found (no migration).

    Args:
        forms: from :func:`name_forms`.
        query: the keys a check reads rather than the keys a customer is stored under.

    Returns:
        Most telling first (``query_keys`` cuts from the end): ``g:`` CJK bigrams (a lone CJK character as
        a unigram), ``w:`` pinyin spellings of an all-Chinese name, ``h:`` CJK trigrams, ``s:`` the first
        character of an all-Chinese name with each of its next seven (abbreviations), ``t:`` trigrams of
        the spaceless Latin part (a Latin part of one or two letters as itself), ``w:`` Latin words of two
        letters or more, ``p:`` pairs of neighbouring words among the first four, ``a:``/``i:`` the
        initials, if any, ``d:`` one-letter deletions of a leading Latin word of 4-12 letters (the word
        itself included), ``e:`` those of the first word followed by the second word. Empty for an empty core.

        Stored (``query=False``), a customer carries:

        * ``w:`` spellings of its first two or three Han characters only, with "u" for ü (a check reads
          up to five characters and both spellings): a Latin name writes the brand as one word ("Huawei",
          "Zhongxing"); the longer runs spill into trade words that a Latin name translates;
        * ``h:`` the trigrams of its first six characters only (a check reads all): trigrams keep a name
          rare where its bigrams are common, and the brand leads the name; later trigrams lie in the trade
          words (电子器材, 出租汽车), common everywhere;
        * ``t:`` the first trigram of its Latin part only (a check reads all of its own): it is what
          reaches an acronym-like or re-spaced form ("AMEX", "CAT", "Pepsi Co"); later trigrams are
          covered by the word, pair and deletion keys, and in a large index they are full anyway;
        * ``d:`` the neighbourhood of one word, the first of its first two Latin words with 4-12 letters
          (a check reads those of both): the leading word is the brand;
        * ``e:`` keys for deletions in the first six letters of the first word (and the word itself; a
          check reads all): ``e:`` keys exist for brands that are common words ("general"), and those are
          short; a longer brand is rare, so its ``d:`` keys reach a typo anywhere in it;
        * no ``w:`` key of that word (its ``d:`` key holds it; a check reads ``d:`` of its own leading
          words and of its pinyin spellings) and no ``p:`` key of its first pair when it has ``e:`` keys
          (their identity ``e:first second`` holds it; a check reads ``e:`` of each of its pairs).
    """
    keys: list[str] = []
    trigrams_cjk: list[str] = []
    latin_parts: list[str] = []
    for token in forms.core.split(" "):
        if not token:
            continue
        if names.is_cjk(token[0]):
            if len(token) == 1:
                keys.append(f"g:{token}")
            keys.extend(f"g:{token[i:i + 2]}" for i in range(len(token) - 1))
            trigrams_cjk.extend(f"h:{token[i:i + 3]}" for i in range(len(token) - 2))
        else:
            latin_parts.append(token)
    # Cross-script: a Chinese name meets the Latin spelling of its brand as a word ("w:huawei"). Before
    # the trigrams, so a long name that is cut to MAX_QUERY_KEYS keeps it.
    if query:
        spellings = romanised_prefixes(forms, _not_brands())
        keys.extend(f"w:{spelling}" for spelling in spellings)
        # a Latin brand's leading word is stored under its d: key only (see above)
        keys.extend(f"d:{s}" for s in spellings if _MIN_DELETION_WORD <= len(s) <= _MAX_DELETION_WORD)
    else:
        keys.extend(f"w:{s}" for s in romanised_prefixes(forms, _not_brands(), most=_PINYIN_STORED_SPELLINGS))
    keys.extend(trigrams_cjk if query else trigrams_cjk[:_STORED_CJK_TRIGRAMS])
    # Abbreviations keep a name's first character and then characters of it in order (西发 for 西藏发展):
    # the first character paired with each of the next few meets the abbreviation's first two characters.
    if forms.script == "cjk":
        first = forms.compact[:1]
        keys.extend(f"s:{first}{ch}" for ch in forms.compact[1:_SKIP_SPAN])
    latin = "".join(latin_parts)
    if 0 < len(latin) < _TRIGRAM:
        keys.append(f"t:{latin}")
    trigrams = [f"t:{latin[i:i + _TRIGRAM]}" for i in range(len(latin) - _TRIGRAM + 1)]
    keys.extend(trigrams if query else trigrams[:_STORED_TRIGRAMS])
    words = [w for w in latin_parts if len(w) >= _MIN_ACRONYM and w not in _ACRONYM_SKIP]
    deletion_words = [w for w in latin_parts[:_DELETION_WORDS] if _MIN_DELETION_WORD <= len(w) <= _MAX_DELETION_WORD]
    if not query:
        deletion_words = deletion_words[:1]
    paired = len(words) > 1 and words[0] == latin_parts[0] and _MIN_DELETION_WORD <= len(words[0]) <= _MAX_DELETION_WORD
    keys.extend(f"w:{w}" for w in words if query or w not in deletion_words)
    pairs = [f"{a} {b}" for a, b in zip(words[:_PAIR_WORDS - 1], words[1:_PAIR_WORDS], strict=False)]
    keys.extend(f"p:{pair}" for i, pair in enumerate(pairs) if query or i or not paired)
    if query:
        keys.extend(f"e:{pair}" for pair in pairs)
    if forms.acronym:
        # A name written as initials ("IBM") is stored under "i:ibm", a long name under its initials
        # "a:ibm". A long query reads both (its fellow long names, and the rare names written as its
        # initials), a query written as initials reads "a:" only: so "International Business Machines"
        # finds "IBM" even where thousands of long names share the initials.
        if query:
            keys.append(f"a:{forms.acronym}")
            if not forms.initials:
                keys.append(f"i:{forms.acronym}")
        else:
            keys.append(f"{'i' if forms.initials else 'a'}:{forms.acronym}")
    # One-deletion neighbourhood of the leading words (SymSpell's idea): a typo that swaps, drops, adds or
    # replaces one letter still shares a key with the original ("keldal"/"kledal" -> "kedal"), where
    # trigrams of a short word would all be lost or common.
    # The word itself is in its own neighbourhood, so a dropped or added letter meets too ("genral" is a
    # deletion of "general").
    for word in deletion_words:
        keys.extend(f"d:{word[:i]}{word[i + 1:]}" for i in range(len(word) + 1))
    # The same neighbourhood of the first word, paired with the next word: stays rare when the brand is
    # a common word.
    if paired:
        first, second = words[0], words[1]
        positions = range(len(first) + 1) if query else [*range(min(len(first), _STORED_PAIRED_DELETIONS)), len(first)]
        keys.extend(f"e:{first[:i]}{first[i + 1:]} {second}" for i in positions)
    return list(dict.fromkeys(keys))


@lru_cache(maxsize=1)
def _not_brands() -> frozenset[str]:
    tables = names._tables()
    return tables.generic_words | tables.places


# The romanisation table: one line per character or phrase of pypinyin's data (MIT), ``text<TAB>syllables``
# (toneless, space-separated; a character's most common reading, a phrase's reading per character), sorted.
# Importing pypinyin's dictionaries costs ~380 ms CPU and ~70 MB, so `make package` writes this table into the
# zip (``infra.package``, from the pinned pypinyin: nothing third-party in git). A cold function reads the file
# as bytes (~1 ms) and parses only the sections of the characters it romanises (issue 15: decoding and
# splitting all 89,000 lines cost ~25 ms CPU on every first dedup message). Without the file (the source tree:
# tests, `make run`) the same lines are built from pypinyin.
PINYIN_TABLE = "pinyin_table.tsv"
# The pinyin spellings of the regions a Latin name may start with (``_pinyin_regions``, one per line): derived
# from the place list and the romanisation table, written at package time too (it romanises ~3,000 places).
PINYIN_REGIONS = "pinyin_regions.txt"


def pinyin_table_lines() -> list[str]:
    """The sorted lines of the romanisation table, built from pypinyin (the package step and the fallback)."""
    from pypinyin.phrases_dict import phrases_dict
    from pypinyin.pinyin_dict import pinyin_dict

    # ü is kept as "v" (no other pinyin syllable has a v); han_syllables writes it as the caller asks.
    lines = [f"{chr(cp)}\t{_toneless(readings.split(',')[0], 'v')}" for cp, readings in pinyin_dict.items()]
    # Phrases settle the characters with several readings (重庆 chong qing, 银行 yin hang).
    lines += [f"{phrase}\t{' '.join(_toneless(r[0], 'v') for r in readings)}"
              for phrase, readings in phrases_dict.items() if len(readings) == len(phrase) >= 2]
    return sorted(lines)


class _RomanisationTable:
    """The sorted ``text<TAB>syllables`` lines as UTF-8 bytes, read one first character at a time.

    UTF-8 keeps code point order, so the lines of one character (its own reading, then the phrases it starts:
    "\t" sorts before every Han character) are one run of the bytes. The first look-up of a character finds
    its run by bisection over the bytes and parses it into a small dict; every later look-up is two dict reads.
    """

    __slots__ = ("_data", "_sections")

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._sections: dict[str, dict[str, str]] = {}

    def get(self, text: str) -> str | None:
        if not text:
            return None
        section = self._sections.get(text[0])
        if section is None:
            section = self._sections[text[0]] = self._section(text[0])
        return section.get(text)

    def _first_line_from(self, key: bytes) -> int:
        """The offset of the first line that is not below ``key`` (``len(data)`` if none)."""
        data = self._data
        lo, hi = 0, len(data)  # both always line starts (or the end)
        while lo < hi:
            start = data.rfind(b"\n", 0, (lo + hi) // 2) + 1  # the line holding the middle: never before lo
            end = data.find(b"\n", start)
            end = len(data) if end < 0 else end
            if data[start:end] < key:
                lo = end + 1
            else:
                hi = start
        return lo

    def _section(self, ch: str) -> dict[str, str]:
        key = ch.encode()
        start = self._first_line_from(key)
        end = self._first_line_from(key + b"\xff")  # no UTF-8 byte is 0xff: just past the character's lines
        if end <= start:
            return {}
        return dict(line.split("\t", 1) for line in self._data[start:end].decode().rstrip("\n").split("\n"))


def _data_file(name: str) -> Path:
    return Path(__file__).with_name("data") / name


@lru_cache(maxsize=1)
def _pinyin_table() -> _RomanisationTable:
    """The romanisation table, read once per process (from the package's file, else from pypinyin)."""
    try:
        return _RomanisationTable(_data_file(PINYIN_TABLE).read_bytes())
    except FileNotFoundError:
        return _RomanisationTable(("\n".join(pinyin_table_lines()) + "\n").encode())


def _umlaut(syllable: str, umlaut: str) -> str:
    return syllable if umlaut == "v" else syllable.replace("v", umlaut)


def _toneless(syllable: str, umlaut: str = "u") -> str:
    decomposed = unicodedata.normalize("NFKD", syllable).replace("u\u0308", umlaut)
    return "".join(c for c in decomposed if c.isascii() and c.isalpha()).lower()


@lru_cache(maxsize=65536)
def han_syllables(text: str, limit: int = _PINYIN_MAX_CHARS, umlaut: str = "u") -> tuple[str, ...]:
    """Toneless pinyin syllables of the first ``limit`` characters of ``text`` (longest known phrase
    first, else each character's most common reading); stops at the first character that is not Han.

    Args:
        text: a compact CJK name.
        limit: the most characters to romanise.
        umlaut: how ü is written: "u" (as most Latin names and the regions compared here do) or "v"
            (the keyboard spelling, 劲旅 "Jinglv").

    Returns:
        e.g. ``("hua", "wei")`` for "华为"; empty for text that does not start with Han characters.
    """
    table = _pinyin_table()
    out: list[str] = []
    i = 0
    end = min(len(text), limit)
    while i < end:
        for length in range(min(_PHRASE_MAX, end - i), 1, -1):
            phrase = table.get(text[i:i + length])
            if phrase is not None:
                out.extend(_umlaut(p, umlaut) for p in phrase.split(" "))
                i += length
                break
        else:
            reading = table.get(text[i])
            if reading is None:
                break
            out.append(_umlaut(reading, umlaut))
            i += 1
    return tuple(out)


def romanised_prefixes(forms: NameForms, skip: frozenset[str] = frozenset(), *, most: int = 0) -> tuple[str, ...]:
    """Pinyin spellings of the leading 2-5 characters of an all-Chinese name, written as one word the way
    Chinese brands are in Latin script ("华为技术" -> "huawei", "huaweiji", ...).

    Args:
        forms: the name's forms; other scripts give nothing.
        skip: leading character runs that are not a brand (places, trade words): no spelling for them,
            so "上海银行" is not "shanghai" and cannot meet "Shanghai Electric".
        most: with a positive value, at most this many spellings (the shortest) with each way of writing ü.

    Returns:
        Spellings of at least four letters, shortest first; a name with ü has them with "u", then with
        "v" (劲旅 -> "jinglu", "jinglv").
    """
    if forms.script != "cjk" or not forms.compact:
        return ()
    out = []
    for syllables in dict.fromkeys((han_syllables(forms.compact), han_syllables(forms.compact, umlaut="v"))):
        spelled = 0
        for k in range(_PINYIN_MIN_CHARS, len(syllables) + 1):
            if forms.compact[:k] in skip:
                continue
            spelling = "".join(syllables[:k])
            if len(spelling) >= _PINYIN_MIN_LETTERS:
                out.append(spelling)
                spelled += 1
                if spelled == most:
                    break
    return tuple(dict.fromkeys(out))


def contact_keys(emails: Iterable[str | None] = (), phones: Iterable[str | None] = ()) -> list[str]:
    """Exact keys of a customer's contacts: ``email:<lower-case address>`` and ``phone:<digits>``.

    A phone keeps its last ``_PHONE_DIGITS`` digits, so "+86 755 8601 3388" and "0755-8601 3388" agree;
    numbers shorter than ``_MIN_PHONE_DIGITS`` digits are ignored (extensions, typos).
    """
    keys = [f"email:{e.strip().lower()}" for e in emails if e and "@" in e]
    for phone in phones:
        digits = "".join(ch for ch in phone or "" if ch.isdigit())
        if len(digits) >= _MIN_PHONE_DIGITS:
            keys.append(f"phone:{digits[-_PHONE_DIGITS:]}")
    return list(dict.fromkeys(keys))
