"""Words of a query before any rule reads it: cleaning, spelling correction and abbreviations.

* :func:`clean_query` drops control, format (bidi) and symbol characters (emoji) and markup tags,
  and joins whitespace, so "data\\tengineer\\n\\nremote\\u0000 jobs" reads as "data engineer remote jobs".
* :class:`Lexicon` knows the words of the corpus (title, department and category words, company
  names, place names seen in posting locations) plus the planner's own keywords. A word it does not
  know and that is no ordinary English word (not a whole word of the embedding model's WordPiece
  vocabulary) is corrected to the closest known word with rapidfuzz when the match is close enough:
  at most ``SHORT_WORD_EDITS`` (1) edit for words of 5-7 letters and ``LONG_WORD_EDITS`` (2) for longer
  ones, counting a swap of two neighbouring letters as one edit (optimal string alignment distance);
  chosen on the development queries: one dropped, doubled or swapped letter passes ("seatle",
  "remtoe", "accountent"), a different word does not. Ties go to the word seen most often in the corpus.
  A real word that is a typo in its place ("project manger", "principle engineer") is corrected by the
  pairs of neighbouring title words: the pair as typed is (almost) never in a title, the pair with a word
  one edit away (two for long words) is in ``MIN_PAIR_COUNT`` titles or more and ``PAIR_RATIO`` times as
  many, that word is ``PAIR_RATIO`` times as common in the postings (so "data engineers" stays plural), and the two
  sound alike (:func:`sound_key`: the same consonants as said, vowels aside), as a word misspelt by sound does: "principle
  engineer" is read as "principal engineer", while "produce manager" (a grocery's title) is no slip for "product manager".
* A query naming only an interest ("someone who loves numbers", "fixing things with my hands") embeds the
  kinds of work it points to after the first interest word (``data/interests.json``, :func:`expand_interests`).
* Abbreviations (``data/abbreviations.json``) are expanded for the semantic text: "SWE" embeds as
  "SWE (software engineer)", the expansion in parentheses as titles write it.
"""
from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from functools import lru_cache
from importlib import resources

from .gazetteer import fold, place_aliases

SHORT_WORD_EDITS = 1
LONG_WORD_EDITS = 2
MIN_CORRECTED_LENGTH = 5
# A word the postings hold only this often may itself be a typo ("virgina" once, "virginia" hundreds of times):
# it is corrected when a word one edit away is at least RARE_WORD_RATIO times as common.
RARE_WORD_COUNT = 2
RARE_WORD_RATIO = 40
MIN_RARE_CORRECTED_LENGTH = 7
# A real word that is a typo of another ("project manger", "costumer service", "principle engineer"): corrected when the pair
# it makes with a neighbouring word is (almost) never in a title, while the pair with a word one edit away is in at least
# MIN_PAIR_COUNT titles and PAIR_RATIO times as many.
MIN_PAIR_COUNT = 5
PAIR_RATIO = 20
MIN_PAIR_KEPT = 3  # title pairs seen fewer times are not kept in the table
_TAG = re.compile(r"</?[A-Za-z][^<>]{0,200}>")
_DROP_CATEGORIES = frozenset({"Cc", "Cf", "Co", "Cs", "Cn", "So", "Sk"})
# Words of the planner's own rules, always known (so never "corrected" into something else).
KEYWORDS = frozenset("""remote hybrid onsite on-site office person anywhere home wfh telecommute distributed posted posting recent recently
today yesterday week weeks month months day days hours hour year years since within last past salary salaries pay paying paid
compensation thousand figures hourly monthly yearly annual annually least over above under below between more less than jobs job
roles role positions position openings opening careers career internships internship intern interns hiring company companies
startup startups except excluding exclude outside other anything but not non without avoid avoiding either neither nor near
around based located area region metro greater connection connections network colleagues coworkers former worked background
experience skills profile senior junior staff principal lead director head vice president manager management individual
contributor entry level graduate grad mid executive chief agency agencies recruiters staffing sourcing recruiting state
country city county remote-first edtech fintech healthtech insurtech proptech medtech biotech cleantech climatetech govtech
legaltech martech adtech mlops devops devsecops saas paas fullstack frontend backend
dealership dealerships daycare daycares pharmacy pharmacies kennel kennels dispensary dispensaries winery wineries brewery breweries
bakery bakeries salon salons hospice hospices nursery nurseries bookstore bookstores boutique boutiques laundromat
sponsorship sponsor sponsors sponsoring relocation bachelors bachelor masters doctorate""".split())


def clean_query(text: str) -> str:
    """The query without control, bidi or emoji characters, markup tags and script elements, whitespace joined (see
    :func:`strip_code` for JSON pasted into it).

    Example:
        >>> clean_query("data\\tengineer\\n\\nremote\\u0000 jobs \\u202e\\U0001F680")
        'data engineer remote jobs'
    """
    text = _TAG.sub(" ", _SCRIPT.sub(" ", text))
    kept = []
    for ch in text:
        category = unicodedata.category(ch)
        if ch in "\t\n\r\x0b\x0c\x00" or category in _DROP_CATEGORIES:
            kept.append(" ")
        else:
            kept.append(ch)
    return " ".join("".join(kept).split())


@lru_cache(maxsize=1)
def common_words() -> frozenset[str]:
    """Whole words of the embedding model's WordPiece vocabulary: ordinary English words and names."""
    try:
        from .embedding import default_model_path

        path = f"{default_model_path()}/vocab.txt"
        with open(path, encoding="utf-8") as handle:
            return frozenset(w for w in handle.read().split() if w.isalpha() and not w.startswith("["))
    except (ImportError, OSError):
        return frozenset()


# Code pasted into a query: a script or style element with its content (dropped with the markup), and a JSON object.
_SCRIPT = re.compile(r"<(script|style)\b[^>]{0,200}>.{0,2000}?</\1\s*>", re.IGNORECASE | re.DOTALL)
_CODE = re.compile(r"\{\s*\"[^{}]{0,500}\}")


_CODE_PAIR = re.compile(r"\"(?P<key>[^\"]{1,60})\"\s*:\s*(?:\"(?P<text>[^\"]{0,200})\"|(?P<word>true|false|null|-?\d+(?:\.\d+)?)|"
                        r"\[(?P<list>[^\[\]]{0,300})\])", re.IGNORECASE)
# Keys whose value is read with the word a query would say before it ({"city": "Boston"}: "in Boston"), as words of the key
# (split at "_", "-", spaces and capitals: "excludedCities" is "excluded cities").
_CODE_PLACE_KEY = re.compile(r"cit(?:y|ies)|loc|locations?|place|states?|country|countries|regions?|where|metros?|areas?|zip|geo|"
                             r"towns?|cities", re.IGNORECASE)
_CODE_COMPANY_KEY = re.compile(r"compan(?:y|ies)|employers?|organi[sz]ations?|orgs?|firms?", re.IGNORECASE)
_CODE_PAY_KEY = re.compile(r"salary|salaries|pay|compensation|comp|wages?|rate", re.IGNORECASE)
# A key that rules its value out ("not_company", "excluded_cities", "company_exclude") or caps it ("max_salary").
_CODE_NEGATING_KEY = re.compile(r"not|no|non|exclude[ds]?|excluding|except|without|avoid|blacklist(?:ed)?|blocklist(?:ed)?|ignore|skip",
                                re.IGNORECASE)
_CODE_CEILING_KEY = re.compile(r"max|maximum|upto|ceiling|cap|most|high|highest|top", re.IGNORECASE)
# Keys whose values are words of the search: a role, skill, place, company, pay, work mode or level, or free text. The
# values of other keys ({"id": "abc123"}, {"password": "hunter2"}) are no words of a job.
_CODE_WORD_KEY = re.compile(r"roles?|titles?|jobs?|positions?|occupations?|professions?|skills?|keywords?|terms?|query|q|search|text|"
                            r"description|prompt|request|input|message|industry|industries|sectors?|fields?|functions?|departments?|"
                            r"categor(?:y|ies)|modes?|remote|onsite|hybrid|workplace|type|schedule|shift|employment|contract|"
                            r"levels?|seniority|experience|benefits?|visa|sponsorship|relocation|education|degree|major|"
                            r"filters?|criteria|params|parameters|preferences?|options|constraints|requirements?|wants?|looking|for",
                            re.IGNORECASE)


_INNER = "\x01"  # marks the words of an object inside another, which its outer key passes on as they are


def _key_words(key: str) -> list[str]:
    """A JSON key's words: "not_company" -> ["not", "company"], "excludedCities" -> ["excluded", "cities"]."""
    return [w.lower() for w in re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+", key)]


# A pay range written as one value ("80k-100k", "$80,000 to $100,000").
_PAY_RANGE = re.compile(r"\s*\$?\d[\d,.]*\s*[kK]?\s*(?:-|–|to)\s*\$?\d[\d,.]*\s*[kK]?\s*")


def _code_cue(key: str, value: str) -> str | None:
    """The words a query would say before a key's value ("in ", "not at ", "paying at most "), "" for none, or None when
    the value is no word of the search."""
    words = _key_words(key)
    negated = any(_CODE_NEGATING_KEY.fullmatch(w) for w in words)
    if "up" in words and "to" in words:
        words.append("upto")
    if any(_CODE_PAY_KEY.fullmatch(w) for w in words):
        if not re.search(r"\d", value):
            return ""  # {"pay_type": "hourly"}: a word, no amount
        if negated:
            return None
        if (re.match(r"\s*(?:[<>]|under|over|below|above|at\s+(?:least|most)|up\s+to|min|max|from|between)", value, re.IGNORECASE)
                or _PAY_RANGE.fullmatch(value)):
            return "paying "  # {"salary": "< 90000"}, {"salary": "80k-100k"}: the value says which bound
        return "paying at most " if any(_CODE_CEILING_KEY.fullmatch(w) for w in words) else "paying at least "
    if any(_CODE_PLACE_KEY.fullmatch(w) for w in words):
        return "not in " if negated else "in "
    if any(_CODE_COMPANY_KEY.fullmatch(w) for w in words):
        return "not at " if negated else "at "
    if any(_CODE_WORD_KEY.fullmatch(w) for w in words) or negated:  # {"exclude": "night shift"}: "not night shift"
        return "not " if negated else ""
    if len(value.split()) >= 3:
        return ""  # a key of its own naming ({"looking_for": "remote data engineer roles"}): free text
    return None


def _code_words(match: re.Match) -> str:
    """The words a JSON object holds: its string values, each after the cue its key implies; a key set to true that is
    a word of its own ("remote": true)."""
    words = []
    for pair in _CODE_PAIR.finditer(match.group(0)):
        key, value, items = pair.group("key"), pair.group("text"), []
        if pair.group("list") is not None:  # "skills": ["python", "sql"]
            items = re.findall(r"\"([^\"]{1,100})\"", pair.group("list"))
            value = " or ".join(items)
        if value is not None and value.startswith(_INNER):
            inner = value[1:].strip()
            if inner and any(_CODE_NEGATING_KEY.fullmatch(w) for w in _key_words(key)):
                # {"exclude": {"city": "Boston"}}: each of the inner object's phrases is ruled out ("not in Boston")
                inner = ", ".join(p if re.match(r"not\b", p) else "not " + p for p in inner.split(", ") if not p.startswith("paying"))
            if inner:  # an inner object's words, read already by their own keys
                words.append(inner)
            continue
        if value is None:
            if pair.group("word").lower() == "true" and re.fullmatch(r"[A-Za-z][\w -]{1,30}", key):
                words.append(" ".join(_key_words(key)))
            elif re.fullmatch(r"\d+(?:\.\d+)?", pair.group("word")) and float(pair.group("word")) > 0:
                cue = _code_cue(key, pair.group("word"))
                if cue and cue.startswith("paying"):
                    words.append(cue + pair.group("word"))
            continue
        if not re.search(r"[A-Za-z]", value) and not (re.search(r"\d", value) and _CODE_PAY_KEY.search(key)):
            continue  # "1==1", "": no words
        cue = _code_cue(key, value)
        if cue is None:
            continue
        if cue == "paying ":
            value = re.sub(r"^\s*<\s*=?", "at most ", re.sub(r"^\s*>\s*=?", "at least ", value))
            if _PAY_RANGE.fullmatch(value) and not re.search(r"[$kK]", value):
                value = re.sub(r"(?<![\d,.])(?=\d)", "$", value)  # "80000-100000": amounts, as "$80000-$100000" says
        if cue.startswith("not") and len(items) > 1:  # {"not_companies": ["Stripe", "Notion"]}: each is ruled out
            words.append(", ".join(cue + item for item in items if re.search(r"[A-Za-z]", item)))
            continue
        words.append(cue + value)
    # {"salary_min": 50000, "salary_max": 70000}: one range, as a query says it ("paying $50000 to $70000")
    floors = [i for i, w in enumerate(words) if re.fullmatch(r"paying at least \$?\d[\d,.]*[kK]?", w)]
    ceilings = [i for i, w in enumerate(words) if re.fullmatch(r"paying at most \$?\d[\d,.]*[kK]?", w)]
    if len(floors) == 1 and len(ceilings) == 1:
        low, high = (re.sub(r"^\$?", "$", words[i].split()[-1]) for i in (floors[0], ceilings[0]))
        words[floors[0]] = f"paying {low} to {high}"
        del words[ceilings[0]]
    words = ", ".join(words).replace('"', " ")
    # An object inside another ({"filters": {"city": "Boston"}}), or in a list ({"jobs": [{"title": "nurse"}, ...]}), is read as
    # a string value of the outer one.
    inner = re.search(rf"(?::|:\s*\[(?:\s*(?:\"{_INNER}[^\"]*\"|\{{[^{{}}]*\}})\s*,)*)\s*$", match.string[:match.start()])
    return f' "{_INNER}{words}" ' if inner else f" {words} "


def strip_code(text: str) -> str:
    """The query with a JSON object pasted into it read as the words it holds: its string values, a place after "in"
    and a company after "at" as its keys say ("not in" / "not at" for a key that rules out, "paying at most" for a pay
    cap), no keys, braces, nulls or values of keys that name no part of a job (read after the check for instructions to the
    system, which may be written inside one).

    Example:
        >>> strip_code('nurse jobs {"filters": null}'), clean_query("<script>alert(1)</script> nurse jobs")
        ('nurse jobs', 'nurse jobs')
        >>> strip_code('{"role": "nurse", "city": "Boston", "remote": false}')
        'nurse, in Boston'
        >>> strip_code('{"title": "engineer", "not_company": "Stripe", "max_salary": 90000, "id": "a1"}')
        'engineer, not at Stripe, paying at most 90000'
    """
    for _ in range(3):  # innermost objects first
        text, count = _CODE.subn(_code_words, text)
        if not count:
            break
    return " ".join(text.replace(_INNER, " ").split())


@lru_cache(maxsize=1)
def _common_word_list() -> tuple[str, ...]:
    """:func:`common_words` of five letters or more, sorted, for spelling correction."""
    return tuple(sorted(w for w in common_words() if len(w) >= MIN_CORRECTED_LENGTH))


def english_near(word: str, edits: int) -> str | None:
    """The common English word (:func:`common_words`) at most ``edits`` edits from ``word`` (lower case) that only puts
    back letters left out ("registerd": registered) or swaps neighbours ("reciept": receipt), the nearest first; None
    when there is none. A changed letter is no evidence ("costumer" is no misspelt "costumes").

    Example:
        >>> english_near("registerd", 1) in (None, "registered")  # None where the model's vocabulary is not installed
        True
    """
    from rapidfuzz import process
    from rapidfuzz.distance import OSA

    found = [item for item in process.extract(word, _common_word_list(), scorer=OSA.distance, score_cutoff=edits, limit=16)
             if len(item[0]) == len(word) + item[1] or sorted(item[0]) == sorted(word)]
    if not found:
        return None
    return min(found, key=lambda item: (item[1], len(item[0]) != len(word) + 1, item[0]))[0]


@lru_cache(maxsize=1)
def translations() -> dict[str, str]:
    """Common job-search words of other languages, and countries' own names ("Deutschland", from the place alias table)
    -> English (the embedding model reads English)."""
    table = json.loads(resources.files(__package__).joinpath("data/abbreviations.json").read_text(encoding="utf-8"))
    words = {fold(k): v for k, v in table.get("translations", {}).items()}
    return {**words, **{fold(k): v for k, v in place_aliases()["country_endonyms"].items()}}


def translate(text: str) -> str:
    """Replace common non-English job-search words by their English meaning.

    Example:
        >>> translate("Softwareentwickler Jobs in München"), translate("emplois de développeur à Paris")
        ('software developer Jobs in München', 'jobs de developer à Paris')
    """
    table = translations()
    return re.sub(r"(?<![\w-])[^\W\d_][^\W\d_'-]*(?![\w-])", lambda m: table.get(fold(m.group(0)), m.group(0)), text)


@lru_cache(maxsize=1)
def abbreviations() -> tuple[dict[str, str], frozenset[str]]:
    """(abbreviation -> expansion, abbreviations read only in capitals)."""
    table = json.loads(resources.files(__package__).joinpath("data/abbreviations.json").read_text(encoding="utf-8"))
    return dict(table["roles"]), frozenset(table["upper_only"])


@lru_cache(maxsize=1)
def degree_fields() -> dict[str, str]:
    """Field abbreviations as a degree names them ("BS in CS": computer science; the table's ``degree_fields``)."""
    table = json.loads(resources.files(__package__).joinpath("data/abbreviations.json").read_text(encoding="utf-8"))
    return dict(table["degree_fields"])


@lru_cache(maxsize=1)
def other_titles() -> dict[str, list[str]]:
    """Abbreviation -> other titles that name the same role (the table's ``also``), for matching titles, not for embedding."""
    table = json.loads(resources.files(__package__).joinpath("data/abbreviations.json").read_text(encoding="utf-8"))
    return {k: list(v) for k, v in table.get("also", {}).items()}


@lru_cache(maxsize=1)
def word_families() -> list[list[str]]:
    """Groups of title words that name one role family ("accountant", "accounting"; ``data/word_families.json``)."""
    table = json.loads(resources.files(__package__).joinpath("data/word_families.json").read_text(encoding="utf-8"))
    return [list(group) for group in table["families"]]


@lru_cache(maxsize=1)
def ruled_out_together() -> dict[str, tuple[str, ...]]:
    """Title word -> the words a seeker who rules it out rules out with it: its role family and the table's
    ``ruled_out_together`` ("optician": "optical"; ``data/word_families.json``)."""
    table = json.loads(resources.files(__package__).joinpath("data/word_families.json").read_text(encoding="utf-8"))
    together: dict[str, set[str]] = {}
    for group in (*table["families"], *table["ruled_out_together"]):
        for word in group:
            together.setdefault(word, set()).update(group)
    return {word: tuple(sorted(words)) for word, words in together.items()}


def expand_abbreviations(text: str) -> str:
    """Add the expansion after each abbreviation, for embedding.

    Example:
        >>> expand_abbreviations("SWE jobs, PM or TPM")
        'SWE (software engineer) jobs, PM (product manager) or TPM (technical program manager)'
        >>> expand_abbreviations("devops jobs")
        'devops engineer jobs'
    """
    table, upper_only = abbreviations()

    def replace(match: re.Match) -> str:
        word = match.group(0)
        key = word.lower()
        if key not in table or (key in upper_only and not word.isupper()) or fold(table[key]) in fold(text):
            return word
        expansion = table[key].split()
        if fold(expansion[0]) == fold(word):
            return " ".join([word, *expansion[1:]])  # "devops" -> "devops engineer": the word is said once
        # In parentheses, as a title writes it ("UX (user experience) researcher"): the embedding reads the expansion as
        # the abbreviation's meaning, not as more words of the role ("experience" pulled "Customer Experience" jobs in).
        return f"{word} ({' '.join(expansion)})"

    return re.sub(r"(?<![\w&])[A-Za-z][A-Za-z&]*(?![\w&])", replace, text)


@lru_cache(maxsize=1)
def interests() -> tuple[dict[str, str], frozenset[str]]:
    """(interest word -> kinds of work, words that only say someone likes something; ``data/interests.json``)."""
    table = json.loads(resources.files(__package__).joinpath("data/interests.json").read_text(encoding="utf-8"))
    return dict(table["interests"]), frozenset(table["activity_words"].split())


def _interest_key(word: str) -> str:
    word = fold(word)
    return word[:-1] if word.endswith("s") and len(word) > 3 and word[:-1] in interests()[0] else word


def expand_interests(text: str, filler: frozenset[str] = frozenset()) -> str:
    """Add the kinds of work an interest points to, when the text names only interests and no role.

    A text that is nothing but an interest ("numbers", "solving puzzles", "fixing things with my hands") embeds far
    from every title, and the titles that hold the word itself ("Phone Numbers Operations Specialist") win; the kinds of
    work after it (``data/interests.json``) say what such a seeker is likely to look for. A text with any other word
    ("kids clothing designer", "numbers analyst") is left as it is. ``filler``: more words that say nothing.

    Example:
        >>> expand_interests("numbers and spreadsheets")
        'numbers (finance, accounting, financial analyst, data analyst) and spreadsheets'
        >>> expand_interests("children's book illustrator"), expand_interests("numbers analyst")
        ("children's book illustrator", 'numbers analyst')
    """
    table, activity = interests()
    words = re.findall(r"[A-Za-z][A-Za-z'-]*", text)
    keys = [_interest_key(w) for w in words]
    if not any(k in table for k in keys) or not all(k in table or k in activity or k in filler for k in keys):
        return text
    # The first interest is the one asked about ("teaching people new things": teaching, not people).
    first = next(w for w, k in zip(words, keys) if k in table)
    return re.sub(rf"(?<![\w'-]){re.escape(first)}(?![\w'-])", lambda m: f"{m.group(0)} ({table[_interest_key(first)]})", text, count=1)


class Lexicon:
    """Known words of one catalog, for spelling correction.

    Example:
        >>> lexicon = Lexicon(Counter({"scientist": 30, "seattle": 12, "marketing": 40}))
        >>> lexicon.correct("data scientst jobs in seatle")
        ('data scientist jobs in seattle', [('scientst', 'scientist'), ('seatle', 'seattle')])
        >>> Lexicon(Counter({"virginia": 300, "virgina": 1})).correct("analyst in virgina")  # a typo the postings hold once
        ('analyst in virginia', [('virgina', 'virginia')])
    """

    def __init__(self, counts: Counter, pairs: Counter | None = None):
        self.counts = Counter({w: n for w, n in counts.items() if w})
        for word in KEYWORDS:
            self.counts[word] += 1
        self.words = list(self.counts)
        self.known = frozenset(self.words)
        # Title word pairs ("project manager" -> how many titles hold it) and the words they are made of.
        self.pairs = Counter(pairs or {})
        self.pair_words = sorted({w for pair in self.pairs for w in pair.split()})
        self._pair_word_set = frozenset(self.pair_words)

    def correct(self, text: str, *, keep: frozenset[str] | set[str] = frozenset()) -> tuple[str, list[tuple[str, str]]]:
        """The text with unknown words replaced by their closest known word, and the replacements; words
        in ``keep`` (lower case) stay as written."""
        from rapidfuzz import process
        from rapidfuzz.distance import OSA

        common = common_words()
        table, _ = abbreviations()
        changes: list[tuple[str, str]] = []

        def replace(match: re.Match) -> str:
            word = match.group(0)
            key = word.lower()
            if key in keep:
                return word
            if len(key) == MIN_CORRECTED_LENGTH - 1 and key not in self.known and key not in common and key not in table:
                # Four letters: only a swap of two neighbours ("yrok" -> "york"), which keeps every letter.
                swaps = [w for w, _, _ in process.extract(key, self.words, scorer=OSA.distance, score_cutoff=1, limit=8)
                         if sorted(w) == sorted(key) and len(w) == 4]
                if swaps:
                    best = max(swaps, key=lambda w: self.counts[w])
                    changes.append((word, best))
                    return best.capitalize() if word[:1].isupper() else best
                return word
            if key in self.known and len(key) >= MIN_RARE_CORRECTED_LENGTH and self.counts[key] <= RARE_WORD_COUNT and key not in common:
                near = [w for w, _, _ in process.extract(key, self.words, scorer=OSA.distance, score_cutoff=1, limit=8)
                        if w != key and not (w.startswith(key) or key.startswith(w) or key.endswith(w))  # "analysts" / "analyst", "ecommerce" / "commerce"
                        and self.counts[w] >= RARE_WORD_RATIO * self.counts[key]]
                if near:
                    best = max(near, key=lambda w: self.counts[w])
                    changes.append((word, best))
                    return best.capitalize() if word[:1].isupper() else best
            if (len(key) < MIN_CORRECTED_LENGTH or key in self.known or key in common or key in table or not key.isascii()
                    or key.endswith("s") and (key[:-1] in self.known or key[:-1] in common)
                    # the singular of a plural the postings hold more than rarely ("cashier"; "projets" once is no reason)
                    or max(self.counts.get(f"{key}s", 0), self.counts.get(f"{key}es", 0)) > RARE_WORD_COUNT):
                return word
            edits = SHORT_WORD_EDITS if len(key) <= 7 else LONG_WORD_EDITS
            found = process.extract(key, self.words, scorer=OSA.distance, score_cutoff=edits, limit=8)
            found = [item for item in found if item[0] not in (f"{key}s", f"{key}es")]  # a plural is no spelling of its singular
            best, distance = min(((w, d) for w, d, _ in found), key=lambda item: (item[1], -self.counts[item[0]])) if found else (None, 0)
            if distance > 1:
                # An English word nearer than any word of the postings is what was meant ("registerd": registered, not the
                # postings' "registry"); at the same distance the postings' word wins.
                nearer = english_near(key, distance - 1)
                if nearer is not None:
                    best = nearer
            if best is None:
                return word
            changes.append((word, best))
            return best.capitalize() if word[:1].isupper() else best

        text = re.sub(r"(?<![\w'-])[A-Za-z]+(?![\w'-])", replace, text)
        return self._correct_in_pairs(text, changes), changes

    def _correct_in_pairs(self, text: str, changes: list[tuple[str, str]]) -> str:
        """Real words that are typos in their place: a word whose title pair with the word next to it is (almost) never
        seen while the pair with a word one edit away is common ("project manger" -> "project manager").

        Example:
            >>> lexicon = Lexicon(Counter({"project": 50, "manager": 90, "manger": 1}), Counter({"project manager": 40}))
            >>> lexicon.correct("Project Manger jobs"), lexicon.correct("manger scene")
            (('Project Manager jobs', [('Manger', 'manager')]), ('manger scene', []))
        """
        if not self.pairs:
            return text
        from rapidfuzz import process
        from rapidfuzz.distance import OSA

        tokens = list(re.finditer(r"(?<![\w'-])[A-Za-z]+(?![\w'-])", text))
        words = [t.group(0).lower() for t in tokens]
        fixes: dict[int, str] = {}
        for i, key in enumerate(words):
            if len(key) < MIN_CORRECTED_LENGTH or key in KEYWORDS:
                continue
            # Neighbours joined by spaces only, that titles use (a pair with "jobs" or "in" says nothing).
            neighbours = [(j, words[j]) for j in (i - 1, i + 1) if 0 <= j < len(words) and words[j] in self._pair_word_set
                          and text[min(tokens[i].end(), tokens[j].end()):max(tokens[i].start(), tokens[j].start())].isspace()]
            if not neighbours:
                continue
            best, best_count = None, 0
            for j, other in neighbours:
                seen = self.pairs.get(f"{other} {key}" if j < i else f"{key} {other}", 0)
                if seen >= MIN_PAIR_COUNT:
                    best = None
                    break  # the pair as typed is a title pair of its own
                edits = SHORT_WORD_EDITS if len(key) <= 7 else LONG_WORD_EDITS  # "principle engineer": two letters off
                for candidate, _, _ in process.extract(key, self.pair_words, scorer=OSA.distance, score_cutoff=edits, limit=8):
                    if candidate.startswith(key) or key.startswith(candidate) or self.counts[candidate] < PAIR_RATIO * self.counts[key]:
                        continue  # a plural ("data engineers") or a word the postings use often enough to be meant
                    if sound_key(candidate) != sound_key(key):
                        continue  # a different word, meant as typed ("produce manager"), not one misspelt by sound
                    count = self.pairs.get(f"{other} {candidate}" if j < i else f"{candidate} {other}", 0)
                    if count >= MIN_PAIR_COUNT and count >= PAIR_RATIO * seen and count > best_count:
                        best, best_count = candidate, count
            if best is not None:
                fixes[i] = best
        for i in sorted(fixes, reverse=True):
            token, word = tokens[i], tokens[i].group(0)
            changes.append((word, fixes[i]))
            text = text[:token.start()] + (fixes[i].capitalize() if word[:1].isupper() else fixes[i]) + text[token.end():]
        changes.sort(key=lambda change: text.lower().find(change[1]))
        return text


_SOUNDS = ((re.compile(r"ph"), "f"), (re.compile(r"ck|q"), "k"), (re.compile(r"c(?=[eiy])"), "s"), (re.compile(r"c"), "k"),
           (re.compile(r"x"), "ks"), (re.compile(r"(?<=.)[aeiou]+"), ""), (re.compile(r"(.)\1+"), r"\1"))


def sound_key(word: str) -> str:
    """The consonants of a word as they sound, in order (a first vowel kept, repeats joined): words with the same key sound
    alike. A real word typed for another ("principle engineer", "project manger", "costumer service") is the other word
    misspelt by sound, with its vowels wrong, dropped or swapped; a word whose consonants differ ("produce" for
    "product") is another word, meant as typed.

    Example:
        >>> sound_key("principle") == sound_key("principal"), sound_key("manger") == sound_key("manager")
        (True, True)
        >>> sound_key("fransisco") == sound_key("francisco"), sound_key("produce"), sound_key("product")
        (True, 'prds', 'prdkt')
    """
    key = word.lower()
    for pattern, replacement in _SOUNDS:
        key = pattern.sub(replacement, key)
    return key


def catalog_word_counts(catalog) -> Counter:
    """How often each word appears in titles, departments, categories, companies and locations."""
    counts: Counter = Counter()
    for record in catalog.records.values():
        posting = record.posting
        counts.update(re.findall(r"[a-z]+", fold(f"{posting.title} {posting.department} {posting.category} {posting.company}")))
        counts.update(re.findall(r"[a-z]+", fold(posting.location)))
    return counts
