"""Text messages as rules: how many segments a text costs, what a client's reply means, and
how Twilio's answers and delivery receipts are read. Pure functions, no I/O.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from promptly.domain.common import Channel, RecipientRole

# GSM 03.38: the basic character set (one septet each) and the extension table, whose
# characters cost an escape septet too. Anything else forces the whole text into UCS-2.
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")

GSM7_SINGLE, GSM7_PART = 160, 153  # a concatenated part loses 7 septets to its header
UCS2_SINGLE, UCS2_PART = 70, 67
MAX_SEGMENTS = 2


class Encoding(StrEnum):
    GSM7 = "GSM-7"
    UCS2 = "UCS-2"


@dataclass(frozen=True)
class SegmentCount:
    encoding: Encoding
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int


def segments(text: str) -> SegmentCount:
    """What a carrier bills for `text`: its encoding, length in units and segment count."""
    if all(ch in GSM7_BASIC or ch in GSM7_EXTENDED for ch in text):
        units = sum(2 if ch in GSM7_EXTENDED else 1 for ch in text)
        single, part, encoding = GSM7_SINGLE, GSM7_PART, Encoding.GSM7
    else:
        # Characters outside the basic multilingual plane (emoji) take two UTF-16 units.
        units = len(text.encode("utf-16-le")) // 2
        single, part, encoding = UCS2_SINGLE, UCS2_PART, Encoding.UCS2
    count = 1 if units <= single else -(-units // part)
    return SegmentCount(encoding, units, count)


_GSM7_FOLD = str.maketrans(
    {"ł": "l", "Ł": "L", "’": "'", "‘": "'", "‚": "'", "“": '"', "”": '"', "„": '"', "«": '"'}
    | {"»": '"', "–": "-", "—": "-", "…": "...", "\u00a0": " "}
)


def to_gsm7(text: str) -> str:
    """`text` in GSM-7 letters where a plain equivalent exists (ą→a, ł→l, ś→s): a Polish
    SMS stays at 160 characters a segment instead of 70. Other characters are kept."""
    out = []
    for ch in text.translate(_GSM7_FOLD):
        if ch in GSM7_BASIC or ch in GSM7_EXTENDED:
            out.append(ch)
            continue
        base = "".join(c for c in unicodedata.normalize("NFD", ch) if not unicodedata.combining(c))
        out.append(base if base and all(c in GSM7_BASIC for c in base) else ch)
    return "".join(out)


# --- replies ----------------------------------------------------------------------------


class ReplyIntent(StrEnum):
    CONFIRM = "confirm"
    RESCHEDULE = "reschedule"
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    OTHER = "other"


CONFIRM_WORDS = frozenset(
    {"yes", "y", "tak", "t", "c", "ok", "okay", "okej", "oki", "jasne", "👍", "potwierdzam"}
    | {"będę", "bede"}
)
# What may follow a yes-word in a confirmation: polite and affirming words only. A reply with
# any other word ("Tak, odwołuję", "ok wont make it", "yes cancel") goes to a person.
AFFIRMING_WORDS = frozenset(
    {
        # Polish, with and without diacritics (phones often type them plain)
        *("będę", "bede", "dziękuję", "dziekuje", "dzięki", "dzieki", "bardzo", "pięknie"),
        *("pieknie", "potwierdzam", "wizytę", "wizyte", "termin", "jasne", "oczywiście"),
        *("oczywiscie", "do", "zobaczenia", "pozdrawiam", "super", "dobrze", "tak", "ok"),
        *("okej", "oki", "okay", "proszę", "prosze"),
        # English
        *("yes", "yep", "thanks", "thank", "you", "see", "then", "i'll", "i", "will"),
        *("be", "there", "confirmed", "confirm", "sure", "great", "perfect", "fine", "please"),
        *("cheers", "absolutely", "definitely", "of", "course"),
        # what is left of an emoticon or an emoji after the punctuation is split off
        *("👍", "🙂", "😊", "😀", "🙏", ")", "))", "d"),
    }
)
# A yes that may open a longer confirmation: one letter alone is a yes, but "c …", "t …" or
# "y …" opening a sentence is too likely something else.
_YES_OPENING = CONFIRM_WORDS - {"c", "t", "y"}
RESCHEDULE_WORDS = frozenset({"r", "reschedule", "zmiana", "zmień", "zmien", "przełóż", "przeloz"})
# The carriers' opt-out and opt-in keywords (CTIA; Twilio's defaults). CANCEL is one of them:
# it opts the number out and never cancels an appointment.
OPT_OUT_WORDS = frozenset(
    {"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "revoke", "optout", "stop all"}
)
OPT_IN_WORDS = frozenset({"start", "unstop", "yes start"})
# An opt-out word a client with a visit booked may have meant for the visit.
CANCEL_WORDS = frozenset({"cancel"})

# The emoji a confirmation may carry, each a word of its own ("TAK👍"); skin tones and the
# emoji presentation selector are dropped.
_EMOJI = re.compile(r"([👍🙂😊😀🙏])[\U0001F3FB-\U0001F3FF\uFE0F]*")
_EDGE_PUNCTUATION = " \t\r\n\u200b\ufeff.,;:!?\"'()[]-–—"


# A phone's curly apostrophes ("can’t") are straight ones.
_APOSTROPHES = str.maketrans({"’": "'", "‘": "'"})
_WORD_BREAK = re.compile(r"[\s,.;:!?\-–—\"(]+")


def _normalized(text: str) -> str:
    return (
        unicodedata.normalize("NFC", text.translate(_APOSTROPHES))
        .strip(_EDGE_PUNCTUATION)
        .casefold()
    )


def _plain_answer(whole: str, opening: frozenset[str], following: frozenset[str]) -> bool:
    """`whole` (normalized) is a word of `opening` followed by words of `following` alone,
    eight words at most; each emoji counts as a word of its own."""
    spaced = _EMOJI.sub(lambda m: f" {m.group(1)} ", whole)
    words = [word for word in _WORD_BREAK.split(spaced) if word]
    return (
        bool(words)
        and words[0] in opening
        and len(words) <= 8
        and all(word in following for word in words[1:])
    )


def may_mean_cancelling(text: str) -> bool:
    """The reply opts the number out, but reads as "cancel my visit" to the client."""
    return _normalized(text) in CANCEL_WORDS


def reply_intent(text: str) -> ReplyIntent:
    """What a client's SMS means: the whole message is the keyword (trimmed, any case).

    Carriers match opt-out words on the whole message, so do we. A confirmation is a yes-word
    followed by affirming words alone ("Tak, będę", "Yes, see you"): any other word may change
    its meaning ("Tak, odwołuję", "yes but can't come"), so a person reads it.
    """
    whole = _normalized(text)
    if whole in OPT_OUT_WORDS:
        return ReplyIntent.OPT_OUT
    if whole in OPT_IN_WORDS:
        return ReplyIntent.OPT_IN
    if whole in RESCHEDULE_WORDS:
        return ReplyIntent.RESCHEDULE
    if whole in CONFIRM_WORDS or _plain_answer(whole, _YES_OPENING, AFFIRMING_WORDS):
        return ReplyIntent.CONFIRM
    return ReplyIntent.OTHER


NO_WORDS = frozenset({"nie", "no", "nope", "n"})
# What may follow a no in a plain "not satisfied" ("NIE, nie jestem zadowolona", "No, not
# resolved"): a reply saying more goes to a person.
NO_FOLLOWING_WORDS = frozenset(
    {
        *("nie", "jestem", "zadowolona", "zadowolony", "zadowolone", "rozwiązuje", "rozwiazuje"),
        *("rozwiązana", "rozwiazana", "sprawy", "niestety", "dziękuję", "dziekuje", "to"),
        *("no", "not", "i'm", "im", "i", "am", "satisfied", "happy", "resolved", "thanks"),
        *("unfortunately", "sorry", "it", "is", "isn't"),
    }
)


def plain_no(text: str) -> bool:
    """The reply is a plain no ("NIE", "No, not satisfied") and nothing else: the answer to
    a yes/no question such as a complaint's resolution proposal."""
    return _plain_answer(_normalized(text), NO_WORDS, NO_FOLLOWING_WORDS)


_QUOTE_HEADER = re.compile(
    r"^(on .+ wrote:|w dniu .+ pisze:|.+ napisał\(a\):|-+ ?original message ?-+|"
    r"-+ ?wiadomość oryginalna ?-+|from: .+|od: .+)$",
    re.IGNORECASE,
)


def first_reply_line(text: str) -> str:
    """The first non-empty line a client wrote above the quoted message of an email reply."""
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith(">") or _QUOTE_HEADER.match(line):
            return ""
        return line
    return ""


_DKIM_RESULT = re.compile(r"@([A-Za-z0-9.-]+)\s*:\s*([A-Za-z]+)")


def _aligned(signer: str, author: str) -> bool:
    """DMARC's relaxed alignment: the same domain, or one a subdomain of the other."""
    signer, author = signer.lower().rstrip("."), author.lower().rstrip(".")
    return signer == author or author.endswith("." + signer) or signer.endswith("." + author)


def unverified_sender(
    sender: str, spf: str | None, dkim: str | None, envelope_from: str | None
) -> str:
    """Why an email reply may not come from its `From:` address ("" when it does).

    SendGrid's Inbound Parse posts the SPF verdict for the envelope sender and the DKIM
    results (`{@example.com : pass}`); a `From:` that neither vouches for, aligned with its
    domain as DMARC asks, can be anyone. A post without those fields vouches for nothing:
    its `From:` is as unverified as a failed check's (SPF none, DKIM none).
    """
    author = sender.rpartition("@")[2]
    envelope_domain = (envelope_from or "").rpartition("@")[2]
    if (
        (spf or "").strip().lower() == "pass"
        and envelope_domain
        and _aligned(envelope_domain, author)
    ):
        return ""
    for signer, result in _DKIM_RESULT.findall(dkim or ""):
        if result.lower() == "pass" and _aligned(signer, author):
            return ""
    return f"sender not verified: SPF {spf or 'none'}, DKIM {dkim or 'none'}"


# --- Twilio -------------------------------------------------------------------------------


class TwilioFailure(StrEnum):
    NO_SUCH_NUMBER = "no_such_number"  # not a phone number at all: no SMS, no call either
    INVALID_NUMBER = "invalid_number"  # the number can never take an SMS: fall back
    OPTED_OUT = "opted_out"  # the recipient opted out at Twilio (replied STOP there)
    CREDENTIALS = "credentials"  # our account is misconfigured: nothing will go out
    REJECTED = "rejected"  # this message was refused for good
    TRANSIENT = "transient"  # try again later


# 21211 invalid 'To' (no such number); 21614 not a mobile number, 21408/21612 the number
# cannot be reached from our account; 21610 the recipient opted out (STOP) at Twilio.
NO_SUCH_NUMBER_CODE = 21211
INVALID_NUMBER_CODES = frozenset({21614, 21612, 21408})
OPTED_OUT_CODE = 21610
CREDENTIAL_CODES = frozenset({20003, 20404})


def twilio_failure(status: int, code: int | None) -> TwilioFailure:
    """How an error answer of Twilio's Messages API is handled."""
    if status == 429 or status >= 500:
        return TwilioFailure.TRANSIENT
    if code in CREDENTIAL_CODES or status in (401, 403):
        return TwilioFailure.CREDENTIALS
    if code == NO_SUCH_NUMBER_CODE:
        return TwilioFailure.NO_SUCH_NUMBER
    if code in INVALID_NUMBER_CODES:
        return TwilioFailure.INVALID_NUMBER
    if code == OPTED_OUT_CODE:
        return TwilioFailure.OPTED_OUT
    return TwilioFailure.REJECTED


class DeliveryStatus(StrEnum):
    """The receipts Promptly records (Twilio's MessageStatus values that end a message)."""

    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"


RECEIPT_STATUSES = frozenset(DeliveryStatus)
# The notices of an SMS opt-out or opt-in go to the number whose consent changed, opted out
# or not (one each), and by SMS alone: they are about the number itself.
CONSENT_TEMPLATES = frozenset({"sms_opted_out", "sms_opted_in"})


# The receipts that say an SMS did not arrive.
NOT_DELIVERED = frozenset({DeliveryStatus.UNDELIVERED, DeliveryStatus.FAILED})
# The receipts after which Twilio has nothing more to say of a message: its final statuses.
FINAL_RECEIPTS = frozenset({DeliveryStatus.DELIVERED, *NOT_DELIVERED})


def receipt_replaces(
    recorded: str | None,
    receipt: DeliveryStatus,
    *,
    recorded_at: datetime | None = None,
    received_at: datetime | None = None,
) -> bool:
    """Whether `receipt` replaces the status the ledger holds (`recorded`, None before the
    first). Twilio's callbacks can arrive out of order, so a message's status only moves
    forward (queued, sending < sent < delivered, undelivered, failed): a final status is never
    replaced by one that is not (a late `sent` after `delivered`, or after an `undelivered`
    whose fallback still waits for the sweep), and always replaces one that is not. Between
    two of the same rank the later word stands: a receipt recorded as it comes is the later,
    one kept until the ledger knew its SMS (`received_at`) is not if the ledger's own came
    after it (`recorded_at`). Mirrored in SQL by the receipt's UPDATE
    (services/delivery_receipts.py)."""
    if recorded is None:
        return True
    if (receipt in FINAL_RECEIPTS) != (recorded in FINAL_RECEIPTS):
        return receipt in FINAL_RECEIPTS
    return recorded_at is None or received_at is None or recorded_at <= received_at


def needs_fallback(status: DeliveryStatus, template: str, recipient_role: str) -> bool:
    """An SMS to a client that did not arrive goes another way (and the front desk is told):
    every message to a client matters to them, not only the ones a promise counts."""
    return (
        status in NOT_DELIVERED
        and recipient_role == RecipientRole.CLIENT
        and template not in CONSENT_TEMPLATES
    )


# An SMS Twilio has not taken (429, 5xx, unreachable) goes by email once it has waited a
# quarter of its budget, and never more than an hour: a confirmation (22h budget) after 1h,
# a complaint's news (1h) after 15 min, a delay notice (15 min) after under 4 min.
SMS_FALLBACK_SHARE = 4
SMS_FALLBACK_AT_MOST = timedelta(hours=1)
# A send with less than this left to wait gets no fallback: it is nearly out of budget anyway.
SMS_FALLBACK_AT_LEAST = timedelta(minutes=1)


def email_fallback_after(
    channel: Channel, template: str, email: str | None, budget: timedelta
) -> timedelta | None:
    """How long an SMS may keep failing before the same message goes by email instead: a
    quarter of its `budget`, at most `SMS_FALLBACK_AT_MOST`. None when there is no fallback:
    not an SMS, no email on record, a consent notice (SMS only), or under a minute to wait.
    A refusal for good (invalid number, opted out) needs no wait: the send reroutes it at once
    (activities/sms.py)."""
    if channel is not Channel.SMS or not email or template in CONSENT_TEMPLATES:
        return None
    wait = min(budget / SMS_FALLBACK_SHARE, SMS_FALLBACK_AT_MOST)
    return wait if wait >= SMS_FALLBACK_AT_LEAST else None
