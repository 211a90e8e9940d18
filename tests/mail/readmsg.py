#!/usr/bin/python3
"""Reads one message as a mail client would (Python's email package) and reports what it
found, one KEY=VALUE per line, for tests/mail/smtp.sh to compare exactly:

    readmsg.py MESSAGE.eml OUT_PREFIX FROM_DOMAIN

The decoded parts go to OUT_PREFIX.text and OUT_PREFIX.html (decoded by the email package)
and OUT_PREFIX.text.quopri / .html.quopri (the raw part bodies through quopri, the
reference decoder), line ends as LF.
"""
import email
import email.policy
import quopri
import re
import sys
import time
from email.utils import parsedate_to_datetime

raw = open(sys.argv[1], "rb").read()
prefix = sys.argv[2]
domain = sys.argv[3]
out = []

out.append("crlf=%s" % ("yes" if re.search(rb"(?<!\r)\n|\r(?!\n)", raw) is None else "no"))
out.append("ascii=%s" % ("yes" if all(b < 0x80 for b in raw) else "no"))
head, _, body = raw.partition(b"\r\n\r\n")
out.append("header_lines_max=%d" % max(len(l) for l in head.split(b"\r\n")))
out.append("body_lines_max=%d" % max(len(l) for l in body.split(b"\r\n")))
# no header field beyond the ones we write (nothing smuggled in)
names = [l.split(b":", 1)[0].decode() for l in head.split(b"\r\n") if l[:1] not in (b" ", b"\t")]
out.append("header_names=%s" % ",".join(names))

msg = email.message_from_bytes(raw, policy=email.policy.default)
out.append("from=%s" % msg["From"])
out.append("from_display=%s" % msg["From"].addresses[0].display_name)
out.append("from_addr=%s" % msg["From"].addresses[0].addr_spec)
out.append("to=%s" % msg["To"])
out.append("subject=%s" % msg["Subject"])
date = msg["Date"]
ok = re.fullmatch(r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
                  r"\d{4} \d\d:\d\d:\d\d \+0000", str(date)) is not None
ok = ok and abs(parsedate_to_datetime(str(date)).timestamp() - time.time()) < 300
out.append("date_ok=%s" % ("yes" if ok else "no"))
mid = str(msg["Message-ID"])
out.append("message_id_ok=%s" % ("yes" if re.fullmatch(r"<[A-Za-z0-9_-]{24}@" + re.escape(domain) + ">", mid) else "no"))
out.append("mime=%s" % msg["MIME-Version"])
out.append("auto_submitted=%s" % msg["Auto-Submitted"])
out.append("type=%s" % msg.get_content_type())
boundary = msg.get_boundary()
delims = [l for l in body.split(b"\r\n") if l.startswith(b"--")]
bb = boundary.encode()
out.append("boundary_ok=%s" % ("yes" if delims == [b"--" + bb, b"--" + bb, b"--" + bb + b"--"]
                               and body.count(bb) == 3 else "no"))
parts = []
defects = len(msg.defects)
for i, p in enumerate(msg.iter_parts()):
    defects += len(p.defects)
    parts.append("%s;%s;%s" % (p.get_content_type(), p.get_content_charset(), p["Content-Transfer-Encoding"]))
    kind = "text" if p.get_content_type() == "text/plain" else "html"
    decoded = p.get_payload(decode=True).replace(b"\r\n", b"\n")
    open("%s.%s" % (prefix, kind), "wb").write(decoded)
    ref = quopri.decodestring(p.get_payload(decode=False).encode("ascii")).replace(b"\r\n", b"\n")
    open("%s.%s.quopri" % (prefix, kind), "wb").write(ref)
out.append("parts=%s" % ",".join(parts))
out.append("defects=%d" % defects)
print("\n".join(out))
