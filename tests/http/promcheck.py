#!/usr/bin/env python3
"""A strict reader of the Prometheus text exposition format (0.0.4), for the tests.

Usage: promcheck.py FILE  -- exits 1 with the first problem found; prints
"series value" lines (label values unescaped back, in a canonical form) on success.

What it enforces, beyond the grammar: a family's HELP then TYPE before its samples, each
family once and its samples together, names and label names valid, label values with only
the escapes \\\\, \\" and \\n, no series twice, counters named *_total, integer or float
values, histograms with _bucket series whose le values increase and end in +Inf, counts
that never decrease, and _count equal to the +Inf bucket, per label set.
"""
import math, re, sys

METRIC = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


def fail(n, msg):
    sys.exit(f"line {n}: {msg}")


def parse_labels(s, n):
    """s starts after '{'; returns (labels list, rest after '}')."""
    labels, i = [], 0
    if s.startswith("}"):
        return labels, s[1:]
    while True:
        m = LABEL.match(s, i)
        if not m:
            fail(n, f"bad label name at {s[i:i+20]!r}")
        name = m.group(0)
        if name.startswith("__"):
            fail(n, f"reserved label name {name}")
        i = m.end()
        if s[i:i + 2] != '="':
            fail(n, "expected =\" after a label name")
        i += 2
        val = []
        while True:
            if i >= len(s):
                fail(n, "unterminated label value")
            c = s[i]
            if c == "\\":
                e = s[i + 1:i + 2]
                if e not in ("\\", '"', "n"):
                    fail(n, f"bad escape \\{e}")
                val.append({"\\": "\\", '"': '"', "n": "\n"}[e])
                i += 2
            elif c == '"':
                i += 1
                break
            elif c == "\n":
                fail(n, "newline inside a label value")
            else:
                val.append(c)
                i += 1
        if any(k == name for k, _ in labels):
            fail(n, f"label {name} twice")
        labels.append((name, "".join(val)))
        if s[i:i + 1] == ",":
            i += 1
            continue
        if s[i:i + 1] == "}":
            return labels, s[i + 1:]
        fail(n, "expected , or } after a label value")


def value(s, n):
    if s in ("+Inf", "-Inf", "NaN"):
        return float(s.replace("Inf", "inf").replace("NaN", "nan"))
    if not re.fullmatch(r"[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?", s):
        fail(n, f"bad value {s!r}")
    return float(s)


def main(path):
    text = open(path, encoding="utf-8").read()
    if not text.endswith("\n"):
        fail(0, "the text does not end with a newline")
    families, done, cur = {}, set(), None
    series, out = set(), []
    hist = {}  # (family, labels without le) -> list of (le, count), plus sums/counts
    for n, line in enumerate(text.split("\n")[:-1], 1):
        if line.startswith("# HELP "):
            name = line[7:].split(" ", 1)[0]
            if not METRIC.fullmatch(name):
                fail(n, f"bad metric name {name}")
            if name in families:
                fail(n, f"family {name} described twice")
            help_text = line[7 + len(name) + 1:]
            if re.search(r"\\[^\\n]", help_text.replace("\\\\", "")):
                fail(n, "bad escape in HELP")
            if cur:
                done.add(cur)
            families[name] = None
            cur = name
            continue
        if line.startswith("# TYPE "):
            parts = line[7:].split(" ")
            if len(parts) != 2 or parts[1] not in TYPES:
                fail(n, f"bad TYPE line {line!r}")
            if parts[0] != cur or families[cur] is not None:
                fail(n, "TYPE without its HELP just before, or twice")
            if parts[1] == "counter" and not parts[0].endswith("_total"):
                fail(n, f"counter {parts[0]} does not end in _total")
            families[cur] = parts[1]
            continue
        if line.startswith("#") or not line.strip():
            fail(n, f"unexpected line {line!r}")
        m = METRIC.match(line)
        if not m:
            fail(n, f"bad sample {line!r}")
        name, rest = m.group(0), line[m.end():]
        labels = []
        if rest.startswith("{"):
            labels, rest = parse_labels(rest[1:], n)
        if not rest.startswith(" ") or rest.startswith("  "):
            fail(n, "expected one space before the value")
        fields = rest[1:].split(" ")
        if len(fields) not in (1, 2):
            fail(n, "expected a value and at most a timestamp")
        v = value(fields[0], n)
        fam = cur
        t = families.get(fam)
        if t is None:
            fail(n, f"sample {name} before its family's TYPE")
        if t == "histogram":
            base = None
            for suf in ("_bucket", "_sum", "_count"):
                if name == fam + suf:
                    base = suf
            if not base:
                fail(n, f"{name} is not a series of histogram {fam}")
            key = (fam, tuple(l for l in labels if l[0] != "le"))
            h = hist.setdefault(key, {"buckets": [], "sum": None, "count": None})
            if base == "_bucket":
                les = [l[1] for l in labels if l[0] == "le"]
                if len(les) != 1:
                    fail(n, "a bucket without le")
                le = value(les[0], n)
                if h["buckets"] and (le <= h["buckets"][-1][0] or v < h["buckets"][-1][1]):
                    fail(n, "buckets out of order or decreasing")
                if h["sum"] is not None or h["count"] is not None:
                    fail(n, "a bucket after _sum/_count")
                h["buckets"].append((le, v))
            elif base == "_sum":
                h["sum"] = v
            else:
                h["count"] = v
        elif name != fam:
            fail(n, f"sample {name} inside family {fam}")
        if t == "counter" and (v < 0 or math.isnan(v)):
            fail(n, "a negative counter")
        key = (name, tuple(labels))
        if key in series:
            fail(n, f"series {name}{labels} twice")
        series.add(key)
        lab = ",".join(f'{k}="{val}"' for k, val in labels)
        out.append(f"{name}{{{lab}}} {fields[0]}" if labels else f"{name} {fields[0]}")
    for (fam, labels), h in hist.items():
        b = h["buckets"]
        if not b or not math.isinf(b[-1][0]):
            sys.exit(f"histogram {fam}{labels}: no +Inf bucket")
        if h["count"] is None or h["sum"] is None or h["count"] != b[-1][1]:
            sys.exit(f"histogram {fam}{labels}: _count is not the +Inf bucket, or _sum missing")
    print("\n".join(out))


if __name__ == "__main__":
    main(sys.argv[1])
