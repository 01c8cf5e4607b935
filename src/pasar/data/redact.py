"""Personal data out of training exports: emails, phones, addresses, cards, order and user ids.

``redact_text(text)`` replaces what it finds with a typed placeholder, so the training text
stays readable ("Kirim ke {{ADDRESS}}, hubungi {{PHONE}}"). ``redact_row(row)`` does it to
every string inside an export row (``data/feedback.py`` formats: messages, prompt,
completion, chosen, rejected), tool call arguments and JSON tool results included.
Both are pure: no I/O, nothing downloaded, the input is not changed.

Placeholders and what each catches:

  {{EMAIL}}     addresses like ``budi.santoso@gmail.com``
  {{CARD}}      13-19 digits, optionally grouped by spaces or dashes, starting 2-6 (the card
                networks), that pass the Luhn check
  {{ORDER_ID}}  retail order ids ``#W1234567`` (also without ``#``)
  {{USER_ID}}   retail user ids ``first_last_1234`` (``mia_garcia_4516``)
  {{PHONE}}     numbers that Google's libphonenumber (the ``phonenumbers`` package) finds
                valid for ID, MY, TH, VN, PH, SG or US, written with ``+``, a leading trunk
                ``0``, a bracket or separators (``0812-3456-7890``, ``+62 812 3456 7890``,
                ``012-345 6789``, ``081 234 5678``, ``0912 345 678``, ``0917 123 4567``)
  {{ADDRESS}}   street addresses with a house number, by pattern:
                Indonesian/Malay ``Jl. Sudirman No. 12``, ``Jalan Ampang 5``,
                ``No. 12, Jalan Bukit Bintang`` (with ``RT 02/RW 03``);
                Thai ``ถนนสุขุมวิท 21``, ``123/45 ซอยสุขุมวิท 21 ถนนสุขุมวิท``;
                Vietnamese ``số 45 đường Lê Lợi``, ``123 Nguyễn Huệ, Quận 1`` (the street;
                the ward and district stay);
                English/Filipino ``42 Main St``, ``986 Sunset Drive, Suite 259``,
                ``Blk 5 Lot 12 Mabini St.`` (the barangay and city stay)
  {{NAME}}      only the structured fields ``first_name`` / ``last_name`` / ``full_name`` of
                JSON objects (tool results and tool arguments); names in free text are kept

In JSON objects (a tool's result, a tool call's arguments) the fields ``email``, ``phone``,
``address``, ``address1``, ``address2``, ``street``, ``zip``, ``user_id`` and ``order_id``
are replaced whole, whatever their format.

Not caught (see docs/security.md): people's names in free text; an address without a house
number (``Jalan Sudirman``, ``đường Lê Lợi``) or without its street word (``45 Lê Lợi``
with no district after it); cities, zip codes and districts in free text; US phone numbers
written as 10 bare digits (those look exactly like the catalog's 10-digit product and item
ids, which must stay for training); card numbers that fail the Luhn check, the last four digits
of a card; payment method ids (``credit_card_7815826``), tracking numbers; national id
numbers; identifiers of other shops' formats.

Why not a library. Presidio needs spaCy models (a download at run time). scrubadub 2.0.1 (the
last release, 2021) was tried: it pins ``textblob==0.15.3`` and pulls nltk, dateparser and
faker; one scrubber looks for one region's phone numbers; its card pattern has no Luhn check,
needs whitespace before the number and missed ``4111 1111 1111 1111`` written in groups; it
has no address or order id detection for these languages. What it would add on top of
``phonenumbers`` is an email regex, so the phone part uses ``phonenumbers`` (Google's
libphonenumber metadata, bundled in the package, offline) and the rest are the small
patterns below, tested in all six languages in ``tests/security/test_redaction.py``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from typing import Any

import phonenumbers

EMAIL = "{{EMAIL}}"
PHONE = "{{PHONE}}"
ADDRESS = "{{ADDRESS}}"
CARD = "{{CARD}}"
ORDER_ID = "{{ORDER_ID}}"
USER_ID = "{{USER_ID}}"
NAME = "{{NAME}}"
PLACEHOLDERS = (EMAIL, PHONE, ADDRESS, CARD, ORDER_ID, USER_ID, NAME)

PHONE_REGIONS = ("ID", "MY", "TH", "VN", "PH", "SG", "US")

# Keys whose values are structure, not text: never rewritten.
STRUCTURAL_KEYS = frozenset({"role", "type", "id", "tool_call_id"})
# JSON fields replaced whole (tool results such as get_user_details, tool call arguments).
FIELD_PLACEHOLDERS = {
    "email": EMAIL,
    "phone": PHONE,
    "phone_number": PHONE,
    "address": ADDRESS,
    "address1": ADDRESS,
    "address2": ADDRESS,
    "street": ADDRESS,
    "zip": ADDRESS,
    "postcode": ADDRESS,
    "postal_code": ADDRESS,
    "user_id": USER_ID,
    "order_id": ORDER_ID,
    "first_name": NAME,
    "last_name": NAME,
    "full_name": NAME,
}

EMAIL_RE = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
)
CARD_RE = re.compile(r"(?<![\d+-])(?:\d[ -]?){12,18}\d(?!\d)")
ORDER_ID_RE = re.compile(r"(?<![A-Za-z0-9])#?W\d{7}(?!\d)")
USER_ID_RE = re.compile(r"(?<![A-Za-z0-9_])[A-Za-z]+_[A-Za-z]+_\d{4}(?![A-Za-z0-9_])")

# An upper-case letter of the Latin script, Vietnamese letters included (re has no \p{Lu}).
_UPPER = "".join(c for c in map(chr, [*range(0x41, 0x250), *range(0x1E00, 0x1F00)]) if c.isupper())
_HOUSE_WORDS = r"(?:No|Nomor|Nombor|Kav|Blok|Blk|Lot|RT|RW)\b"
# A capitalised word of a street name: "Sudirman", "Nguyễn", "O'Connell", "Bukit-Bintang".
_CAP = rf"(?!{_HOUSE_WORDS})[{_UPPER}][^\W_]*(?:['’-][^\W_]+)*"

# Indonesian and Malay: Jl./Jln./Gg./Lrg. or Jalan/Lorong/Persiaran/Lebuh/Gang.
_MS_ABBR = r"\b(?:Jl|Jln|Gg|Lrg)\b\.?"
_MS_FULL = r"\b(?:Jalan|jalan|JALAN|Lorong|Persiaran|Lebuh|Gang)\b"
_MS_TOKEN = rf"(?!{_HOUSE_WORDS})(?:{_CAP}|[A-Z]{{1,4}}\s?\d+(?:/\d+)*|\d+/\d+(?:/\d+)*)"
_MS_NAME = rf"{_MS_TOKEN}(?:\s+{_MS_TOKEN}){{0,4}}"
_MS_HOUSE = r"(?:(?:No|Nomor|Nombor|Kav|Blok|Blk|Lot)\.?\s*[A-Za-z]?\d+[A-Za-z]?|\d+[A-Za-z]?)"
_MS_NUM = rf"{_MS_HOUSE}(?:[/-]\d+[A-Za-z]?)*"
_MS_RTRW = r"(?:,?\s*RT\.?\s*\d+\s*/?\s*RW\.?\s*\d+)?"
MS_ADDRESS_RE = re.compile(
    rf"(?<![\w.,/-]){_MS_NUM},?\s+(?:{_MS_ABBR}\s*|{_MS_FULL}\s+){_MS_NAME}{_MS_RTRW}"
    rf"|{_MS_ABBR}\s*{_MS_NAME}(?:,?\s*{_MS_NUM}(?![\w/-]))?{_MS_RTRW}"
    rf"|{_MS_FULL}\s+{_MS_NAME},?\s*{_MS_NUM}(?![\w/-]){_MS_RTRW}"
)

# Thai: ถนน/ถ. (road), ซอย/ซ. (soi), ตรอก (lane), with a house number before or a number in
# the name; a run of them is one address. Thai is written without spaces between words.
_TH_PART = r"(?:ถนน|ถ\.|ซอย|ซ\.|ตรอก)\s?[\u0E01-\u0E4E]*(?:\s?\d+(?:/\d+)?)?"
TH_ADDRESS_RE = re.compile(
    rf"(?:(?<![\d/.,])(?:(?:บ้าน)?เลขที่\s*)?\d+(?:/\d+)?\s*)?{_TH_PART}(?:\s*,?\s*{_TH_PART})*"
)

# Vietnamese: a house number and a street with đường/phố/ngõ/hẻm, or followed by the district.
_VI_WORD = r"(?:đường|Đường|phố|Phố|ngõ|Ngõ|ngách|Ngách|hẻm|Hẻm|kiệt|Kiệt)"
_VI_NAME = rf"(?:{_CAP}|\d+/\d+)(?:\s+{_CAP}){{0,4}}"
_VI_NUM = r"(?<![\w.,/-])(?:[Ss]ố\s*)?\d+[A-Za-z]?(?:/\d+[A-Za-z]?)*"
_VI_AREA = r"(?:Phường|P\.|Quận|Q\.|Huyện|Xã|Thị xã|Thành phố|TP\.?|Tp\.?)"
VI_ADDRESS_RE = re.compile(
    rf"{_VI_NUM},?\s+{_VI_WORD}\s+{_VI_NAME}"
    rf"|{_VI_NUM},?\s+{_VI_NAME}(?=\s*,\s*{_VI_AREA})"
    rf"|{_VI_WORD}\s+{_VI_NAME},?\s+[Ss]ố\s*\d+[A-Za-z]?(?:/\d+)*"
)

# English and Filipino: a house number, words, and a street suffix; then a unit.
_EN_SUFFIX = (
    r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Drive|Dr|Lane|Ln|Way|Court|Ct|Place|Pl"
    r"|Highway|Hwy|Parkway|Pkwy|Terrace|Circle|Cir|Square|Sq|Extension|Ext)\b\.?"
)
_EN_HOUSE = (
    r"(?<![\w.,/-])(?:(?:Blk|Block)\.?\s*\d+[A-Za-z]?,?\s+Lot\.?\s*\d+[A-Za-z]?"
    r"|\d{1,6}[A-Za-z]?(?:-\d+)?)"
)
_EN_UNIT = r"(?:,?\s*(?:Suite|Ste\.?|Unit|Apt\.?|Apartment|Room|Rm\.?|Floor|Fl\.?|#)\s*\w+)?"
EN_ADDRESS_RE = re.compile(
    rf"(?:(?:Unit|Apt\.?|Suite|Room|Rm\.?)\s*\w+,?\s+)?{_EN_HOUSE}\s+"
    rf"(?:(?:{_CAP}\s+){{1,4}}{_EN_SUFFIX}|Broadway\b){_EN_UNIT}"
)


def _luhn(digits: str) -> bool:
    total = 0
    for i, d in enumerate(reversed(digits)):
        n = int(d) * (2 if i % 2 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


def _is_card(match: re.Match[str]) -> bool:
    digits = re.sub(r"\D", "", match.group())
    return 13 <= len(digits) <= 19 and digits[0] in "23456" and _luhn(digits)


def _has_digit(match: re.Match[str]) -> bool:
    return any(c.isdigit() for c in match.group())


def _sub(
    pattern: re.Pattern[str],
    placeholder: str,
    text: str,
    keep: Callable[[re.Match[str]], bool] | None = None,
) -> str:
    return pattern.sub(lambda m: placeholder if keep is None or keep(m) else m.group(), text)


def _phone_spans(text: str) -> list[tuple[int, int]]:
    """Where valid phone numbers of the six countries (and the US) are, merged.

    A bare run of digits counts only when it starts with the trunk ``0``: the retail catalog's
    product and item ids are 10 bare digits that libphonenumber takes for US numbers."""
    spans = []
    for region in PHONE_REGIONS:
        for m in phonenumbers.PhoneNumberMatcher(text, region):
            raw = m.raw_string
            if raw[0] in "+0(" or re.search(r"[\s.\-]", raw):
                spans.append((m.start, m.end))
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _redact_phones(text: str) -> str:
    if sum(c.isdigit() for c in text) < 7:
        return text
    for start, end in reversed(_phone_spans(text)):
        text = text[:start] + PHONE + text[end:]
    return text


def redact_text(text: str) -> str:
    """``text`` with emails, card numbers, order and user ids, phone numbers and street
    addresses replaced by ``{{EMAIL}}``, ``{{CARD}}``, ``{{ORDER_ID}}``, ``{{USER_ID}}``,
    ``{{PHONE}}`` and ``{{ADDRESS}}``. Emails go first (they hold digits and ids), cards
    before phones (a card number is not a phone), addresses last."""
    text = _sub(EMAIL_RE, EMAIL, text)
    text = _sub(CARD_RE, CARD, text, _is_card)
    text = _sub(ORDER_ID_RE, ORDER_ID, text)
    text = _sub(USER_ID_RE, USER_ID, text)
    text = _redact_phones(text)
    text = _sub(MS_ADDRESS_RE, ADDRESS, text)
    text = _sub(TH_ADDRESS_RE, ADDRESS, text, _has_digit)
    text = _sub(VI_ADDRESS_RE, ADDRESS, text)
    return _sub(EN_ADDRESS_RE, ADDRESS, text)


def _redact_string(text: str) -> str:
    """A string that is a JSON object or array (a tool's result, a tool call's arguments) is
    redacted field by field and written back only if something changed."""
    if text.lstrip()[:1] in ("{", "["):
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict | list):
            redacted = _redact_value(parsed)
            return text if redacted == parsed else json.dumps(redacted, ensure_ascii=False)
    return redact_text(text)


def _redact_value(value: Any, key: str | None = None, siblings: Iterable[str] = ()) -> Any:
    if isinstance(value, dict):
        keys = list(value)
        return {k: _redact_value(v, k, keys) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_value(v) for v in value]
    if not isinstance(value, str) or not value:
        return value
    if key in STRUCTURAL_KEYS or (key == "name" and {"arguments", "tool_call_id"} & {*siblings}):
        return value  # a role, a tool call's id, the function a call or tool result names
    if key is not None and key.lower() in FIELD_PLACEHOLDERS:
        return FIELD_PLACEHOLDERS[key.lower()]
    return _redact_string(value)


def redact_row(row: dict[str, Any]) -> dict[str, Any]:
    """A copy of an export row with every string redacted: message contents, completions,
    corrections, tool call arguments, JSON tool results. Roles, ids of tool calls, function
    names, labels and numbers are kept."""
    redacted: dict[str, Any] = _redact_value(row)
    return redacted


def redact_rows(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [redact_row(row) for row in rows]
