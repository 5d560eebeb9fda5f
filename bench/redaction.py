"""Log redaction cost on hostile input against a floor measured in the same run.

The floor is one linear pass over the same text (`str.count`); redaction must stay a bounded
multiple of it however long the record is, so a client who types a 100 KB name cannot stall
logging. One JSON line per input shape:
{benchmark, shape, chars, redact_ms, floor_ms, ratio}.

    .venv/bin/python -m bench.redaction
"""

from __future__ import annotations

import json
import time

from promptly.observability import redact

SHAPES = {
    "word run": "a",
    "dotted words": "a.",
    "digits and spaces": "1 ",
    "email-like": "a@b.",
}


def _ms(action: object, text: str) -> float:
    began = time.perf_counter()
    action(text)  # type: ignore[operator]
    return (time.perf_counter() - began) * 1000


def main() -> None:
    for shape, unit in SHAPES.items():
        for chars in (8_000, 200_000):
            text = unit * (chars // len(unit))
            floor = max(_ms(lambda t: t.count("@"), text), 0.001)
            cost = _ms(redact, text)
            print(
                json.dumps(
                    {
                        "benchmark": "log_redaction",
                        "shape": shape,
                        "chars": len(text),
                        "redact_ms": round(cost, 2),
                        "floor_ms": round(floor, 3),
                        "ratio": round(cost / floor, 1),
                    }
                )
            )


if __name__ == "__main__":
    main()
