"""Reading remittance text: the keys an order number and a payer account compare by, and the
words of a remittance line that may name an order (docs/rules.md section 14).

Persistence indexes orders by :func:`order_key` and asks for the keys :func:`reference_keys`
gives; the matching rules read the same :func:`mentions` back, so what is loaded and what is
read never differ.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from ledger.domain.money import currency_decimals

# What reads as a word of remittance text: letters, digits and the separators - _ # / .
WORD = re.compile(r"[A-Za-z0-9\-_#/.]+")
_SEPARATORS = re.compile(r"[\-_#/.]+")
_DIGIT_RUN = re.compile(r"\d+")
# A word that is only an amount is never read as an order number: "50.00" is money, not O-5000.
_AMOUNT_ONLY = re.compile(r"\d+[.,]\d+")
# Prefixes a word may carry before the order number, longest first so INVOICE is not read as INV.
PREFIXES = ("invoice", "order", "inv", "ref", "no")


def order_key(text: str) -> str:
    """How an order number compares with remittance text: case ignored, separators ignored,
    leading zeros of each digit run ignored (``#o-0012`` and ``O-12`` both give ``o12``)."""
    lowered = text.lower()
    unpadded = _DIGIT_RUN.sub(lambda run: run.group().lstrip("0") or "0", lowered)
    return _SEPARATORS.sub("", unpadded)


def payer_key(account: str) -> str:
    """How a payer account compares: spaces and dashes ignored, upper case (``de89 3704-0044``
    and ``DE8937040044`` are one account)."""
    return "".join(account.split()).replace("-", "").upper()


def _word_keys(word: str) -> tuple[str, ...]:
    """The keys one word (or two words read together) may name an order by: whole, and with a
    leading prefix dropped, glued on or not (``INV#O-102`` -> ``invo102`` and ``o102``)."""
    keys = [order_key(word)]
    lowered = word.lower()
    for prefix in PREFIXES:
        if lowered.startswith(prefix):
            rest = order_key(word[len(prefix) :])
            if rest:
                keys.append(rest)
    return tuple(dict.fromkeys(key for key in keys if key))


@dataclass(frozen=True, slots=True)
class Mention:
    """A word, or two adjacent words read together, that may name an order."""

    fragment: str  # as written, for the receipt's references
    keys: tuple[str, ...]
    words: tuple[int, ...]  # the indexes of the words it is made of
    after: int  # the index of the word right after it (where an amount may follow)


def words_of(text: str, breaks: Collection[int] = ()) -> tuple[list[str], set[int]]:
    """The words of remittance text, and the indexes of the words a record boundary cut off
    from the next: the word ends right at one of ``breaks`` (the offset of the space a BAI2
    reader put where a record meets its continuation) and the next word starts right after it."""
    words: list[str] = []
    cut: set[int] = set()
    previous_end = -1
    for found in WORD.finditer(text):
        if found.start() - 1 == previous_end and previous_end in breaks:
            cut.add(len(words) - 1)
        words.append(found.group())
        previous_end = found.end()
    return words, cut


def mentions(words: Sequence[str], cut: Collection[int] = ()) -> list[Mention]:
    """Every word and adjacent pair of ``words`` that may name an order, in text order; a word
    in ``cut`` is also read glued to the next."""
    found: list[Mention] = []
    for index, word in enumerate(words):
        if index in cut and not _AMOUNT_ONLY.fullmatch(word + words[index + 1]):
            # A bank may cut a word where a record ends (O-1 | 02): read glued as well.
            glued = word + words[index + 1]
            glued_keys = _word_keys(glued)
            if glued_keys:
                found.append(Mention(glued, glued_keys, (index, index + 1), index + 2))
        if _AMOUNT_ONLY.fullmatch(word):
            continue
        keys = _word_keys(word)
        if keys:
            found.append(Mention(word, keys, (index,), index + 1))
        if index + 1 < len(words) and index not in cut:
            second = words[index + 1]
            if (
                not any(c.isdigit() for c in word)
                and not any(c.isalpha() for c in second)
                and not _AMOUNT_ONLY.fullmatch(second)
            ):
                pair_keys = _word_keys(word + second)
                if pair_keys:
                    found.append(
                        Mention(f"{word} {second}", pair_keys, (index, index + 1), index + 2)
                    )
    return found


def reference_keys(
    text: str | None, named: Sequence[str], breaks: Collection[int] = ()
) -> set[str]:
    """Every :func:`order_key` a lookup needs for a receipt with this remittance text (and the
    record ``breaks`` in it) and these named order numbers: the keys of every word and of
    adjacent word pairs (whole and with a prefix dropped), and of the named numbers (a named
    order that does not resolve is read as text). Persistence loads the orders whose number key
    is in this set."""
    keys = {order_key(number) for number in named}
    # Read as :func:`match` reads it: the named number first, then the text.
    shift = sum(len(number) + 1 for number in named)
    joined = " ".join([*named, text or ""])
    for mention in mentions(*words_of(joined, {at + shift for at in breaks})):
        keys.update(mention.keys)
    keys.discard("")
    return keys


def amount_pattern(currency: str) -> re.Pattern[str]:
    """A word that is an amount of ``currency``, written with its minor-unit digits."""
    places = currency_decimals(currency)
    # At most 12 integer digits: a longer run is not an amount anyone wrote for an order.
    if places == 0:
        return re.compile(r"\d{1,12}")
    return re.compile(rf"\d{{1,12}}[.,]\d{{{places}}}")
