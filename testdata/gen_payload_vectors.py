#!/usr/bin/env python3
"""Known-answer vectors for payload digests and the amendment trail.

An independent implementation of docs/audit-trail.md, written from the
document alone (Python 3 standard library only), so the Go encoder can be
checked against something it shares no code with.

    python3 testdata/gen_payload_vectors.py          # rewrite the vectors
    python3 testdata/gen_payload_vectors.py --check  # fail if they differ

It writes testdata/payload-vectors.json and testdata/amendment-vectors.json
next to itself. The Go tests read those files; they never run this script.
"""

import hashlib
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PAYLOAD_FILE = os.path.join(HERE, "payload-vectors.json")
AMENDMENT_FILE = os.path.join(HERE, "amendment-vectors.json")

PREFIX = b"chainlog-payload-v1\n"
GENESIS = "0" * 64
INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)
MAX_FLOAT = sys.float_info.max
MIN_SUBNORMAL = 5e-324


# --- the payload digest -----------------------------------------------------

def _field(b):
    """One field: N; for NULL, else <length in bytes>:<bytes>;"""
    if b is None:
        return b"N;"
    return str(len(b)).encode("ascii") + b":" + b + b";"


def cost_hex(cost):
    """The 16 lowercase hex digits of the IEEE 754 binary64 bits, big-endian."""
    return struct.pack(">d", cost).hex()


def canonical_payload(data, cost, tokens, model):
    """data: stored JSON text (str) or None; cost: float or None;
    tokens: int or None; model: str or None."""
    out = PREFIX
    out += _field(None if data is None else data.encode("utf-8"))
    out += _field(None if cost is None else cost_hex(cost).encode("ascii"))
    out += _field(None if tokens is None else str(tokens).encode("ascii"))
    out += _field(None if model is None else model.encode("utf-8"))
    return out


def payload_digest(p):
    return hashlib.sha256(canonical_payload(p["data"], p["cost"], p["tokens"], p["model"])).hexdigest()


def payload(data=None, cost=None, tokens=None, model=None):
    return {"data": data, "cost": cost, "tokens": tokens, "model": model}


def payload_json(p):
    """A payload as the vector files hold it: the cost both as its exact bit
    pattern and as Python's shortest repr (for reading only)."""
    return {
        "data": p["data"],
        "cost": p["cost"],
        "cost_bits": None if p["cost"] is None else cost_hex(p["cost"]),
        "token_count": p["tokens"],
        "model": p["model"],
    }


# (name, payload). data values are the stored, compact JSON text.
PAYLOAD_CASES = [
    ("docs example", payload('{"a":1}', 0.006, 1200, None)),
    ("all NULL", payload()),
    ("all set", payload('{"tool":"bash","ok":true}', 0.25, 42, "claude-sonnet-4")),
    ("data NULL only", payload(None, 0.25, 42, "claude-sonnet-4")),
    ("cost NULL only", payload('{"tool":"bash","ok":true}', None, 42, "claude-sonnet-4")),
    ("token_count NULL only", payload('{"tool":"bash","ok":true}', 0.25, None, "claude-sonnet-4")),
    ("model NULL only", payload('{"tool":"bash","ok":true}', 0.25, 42, None)),
    ("model empty string, not NULL", payload('{"tool":"bash","ok":true}', 0.25, 42, "")),
    ("model literally N;", payload(None, None, None, "N;")),
    ("model looks like a field", payload(None, None, None, "4:abcd;N;")),
    ("model non-ASCII", payload(None, 0.01, 7, "modèle-模型-😀")),
    ("data raw UTF-8", payload('{"msg":"héllo 世界 😀"}', None, None, None)),
    ("data with escapes", payload(r'{"s":"a\"b\\c\n\t\u0000\u00e9\ud83d\ude00\/"}', None, None, None)),
    ("data raw U+2028 and DEL", payload('{"s":"x\u2028y\x7fz<>&"}', None, None, None)),
    ("data nested", payload('{"a":[1,{"b":[true,false,null]},"x"],"c":{"d":{"e":-1.5e10}},"f":[]}', 1.0, 3, "m")),
    ("data with separators", payload('{"k":"N;3:abc;","v":";:;"}', None, None, None)),
    ("data JSON null, not SQL NULL", payload("null", None, None, None)),
    ("data JSON string null", payload('"null"', None, None, None)),
    ("data JSON empty string", payload('""', None, None, None)),
    ("data JSON empty object", payload("{}", None, None, None)),
    ("data JSON empty array", payload("[]", None, None, None)),
    ("data JSON number zero", payload("0", None, None, None)),
    ("cost zero", payload(None, 0.0, None, None)),
    ("cost one", payload(None, 1.0, None, None)),
    ("cost 1e-9", payload(None, 1e-9, None, None)),
    ("cost 123456.789", payload(None, 123456.789, None, None)),
    ("cost smallest subnormal", payload(None, MIN_SUBNORMAL, None, None)),
    ("cost subnormal 1e-310", payload(None, 1e-310, None, None)),
    ("cost largest finite", payload(None, MAX_FLOAT, None, None)),
    ("cost zero after a cost", payload('{"a":1}', 0.0, 1200, None)),
    ("token_count zero", payload(None, None, 0, None)),
    ("token_count ten", payload(None, None, 10, None)),
    ("token_count int64 max", payload(None, None, INT64_MAX, None)),
    ("token_count negative", payload(None, None, -42, None)),
    ("token_count int64 min", payload(None, None, INT64_MIN, None)),
]


def payload_vectors():
    out = []
    for name, p in PAYLOAD_CASES:
        canon = canonical_payload(p["data"], p["cost"], p["tokens"], p["model"])
        v = {"name": name}
        v.update(payload_json(p))
        v["canonical"] = canon.decode("utf-8")
        v["canonical_hex"] = canon.hex()
        v["digest"] = hashlib.sha256(canon).hexdigest()
        out.append(v)
    return out


# --- the amendment trail ----------------------------------------------------

def canonical_record(rec):
    obj = {k: rec[k] for k in ("actor", "at", "digest_after", "digest_before", "event_id", "fields", "kind", "reason", "seq")}
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def record_hash(prev_hash, canonical):
    return hashlib.sha256((prev_hash + "|" + canonical).encode("ascii")).hexdigest()


# Events' mutable fields at ingest.
EVENTS = {
    "ev:01": payload('{"usage":{"input_tokens":1000,"output_tokens":200}}', None, None, "claude-sonnet-4"),
    "ev:02": payload('{"prompt":"my name is Zoë Ångström, call me on +33 6 12 34 56 78"}', 0.002, 35, "gpt-4o"),
    "ev:ü/04": payload('{"x":1}', 0.5, 10, "m"),
}

# (event, kind, fields, new values, reason, actor, at), in commit order.
AMENDMENTS = [
    ("ev:01", "amend", ["cost_usd"], {"cost_usd": 0.006},
     "backfill-costs: priced from the 2026-01 table", "backfill-costs", "2026-02-01T10:00:00.000Z"),
    ("ev:02", "redact", ["data"], {"data": '{"prompt":"[redacted]"}'},
     "GDPR erasure request #42 — client « Zoë » <dpo@example.com> & co", "Zoë Ångström", "2026-02-02T11:30:00.123Z"),
    ("ev:01", "amend", ["model", "token_count"], {"model": "claude-opus-4", "token_count": 1200},
     'corrected "model" \\ typo\n\tsee ticket 😀', "ops/😀\u2028", "2026-02-03T00:00:00Z"),
    ("ev:ü/04", "amend", ["data", "cost_usd", "token_count", "model"],
     {"data": None, "cost_usd": None, "token_count": None, "model": None},
     "", "ctl\x01\x1f\x7f", "2026-02-04T23:59:59.999999Z"),
    ("ev:02", "redact", ["model", "data"], {"model": "", "data": "null"},
     "second redaction: 名前を削除", "dpo", "2026-02-05T08:00:00Z"),
]

FIELD_KEYS = {"data": "data", "cost_usd": "cost", "token_count": "tokens", "model": "model"}


def amendment_vectors():
    current = {eid: dict(p) for eid, p in EVENTS.items()}
    events = []
    for eid, p in EVENTS.items():
        e = {"event_id": eid, "ingest": payload_json(p), "ingest_digest": payload_digest(p)}
        events.append(e)
    records = []
    prev = GENESIS
    for i, (eid, kind, fields, values, reason, actor, at) in enumerate(AMENDMENTS, start=1):
        before = dict(current[eid])
        after = dict(before)
        for f in fields:
            after[FIELD_KEYS[f]] = values[f]
        current[eid] = after
        rec = {
            "seq": i, "event_id": eid, "kind": kind, "fields": fields,
            "digest_before": payload_digest(before), "digest_after": payload_digest(after),
            "reason": reason, "actor": actor, "at": at,
        }
        canon = canonical_record(rec)
        rec["canonical"] = canon
        rec["prev_hash"] = prev
        rec["hash"] = record_hash(prev, canon)
        rec["payload_before"] = payload_json(before)
        rec["payload_after"] = payload_json(after)
        prev = rec["hash"]
        records.append(rec)
    return {
        "events": events,
        "records": records,
        "head": {"seq": len(records), "hash": prev},
    }


# --- output -----------------------------------------------------------------

def render(obj):
    return json.dumps(obj, indent=2, ensure_ascii=False) + "\n"


def main(argv):
    check = "--check" in argv[1:]
    outputs = [
        (PAYLOAD_FILE, render({
            "comment": "Generated by gen_payload_vectors.py from docs/audit-trail.md. "
                       "cost is informative; cost_bits is exact. canonical_hex is the exact input to SHA-256.",
            "vectors": payload_vectors(),
        })),
        (AMENDMENT_FILE, render({
            "comment": "Generated by gen_payload_vectors.py from docs/audit-trail.md. "
                       "Records in seq order; canonical is the text hashed after prev_hash and '|'.",
            **amendment_vectors(),
        })),
    ]
    stale = False
    for path, text in outputs:
        if check:
            try:
                with open(path, encoding="utf-8") as f:
                    old = f.read()
            except FileNotFoundError:
                old = None
            if old != text:
                print(f"{os.path.basename(path)}: differs from the generator's output", file=sys.stderr)
                stale = True
        else:
            with open(path, "w", encoding="utf-8", newline="\n") as f:
                f.write(text)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
