#!/usr/bin/env python3
"""Generate one man page per public function from include/evpool.h.

<evpool.h> includes its parts (<evpool/core.h>, <evpool/process.h>,
<evpool/pyapi.h>); each `#include <evpool/...>` is read in its place, so
the functions are found in the order a compiler sees them.

Each EVPOOL_API declaration's preceding /** ... */ comment becomes the page:
NAME, SYNOPSIS (the prototype), DESCRIPTION, RETURN VALUE (its @return) and
SEE ALSO (the functions of the same "@name" section).  The header is the one
source of truth; maintainers run `make man` after changing it and commit the
pages (so building from a tarball needs no Python).
"""
import os
import re
import sys

HEADER = sys.argv[1] if len(sys.argv) > 1 else "include/evpool.h"
OUTDIR = sys.argv[2] if len(sys.argv) > 2 else "man"
VERSION = sys.argv[3] if len(sys.argv) > 3 else ""

INCDIR = os.path.dirname(HEADER)


def expand(path, seen):
    """The header with its <evpool/...> includes read in, each once."""
    out = []
    for line in open(path).read().split("\n"):
        m = re.match(r"#include <(evpool/[\w.-]+\.h)>", line)
        if m:
            if m.group(1) not in seen:
                seen.add(m.group(1))
                out.append(expand(os.path.join(INCDIR, m.group(1)), seen))
            continue
        out.append(line)
    return "\n".join(out)


src = expand(HEADER, set())

def clean_comment(c):
    c = re.sub(r"^/\*\*?", "", c.strip())
    c = re.sub(r"\*/$", "", c)
    lines = [re.sub(r"^\s*\* ?", "", l) for l in c.split("\n")]
    return "\n".join(lines).strip()

def roff(text):
    text = text.replace("\\", "\\\\")
    out = []
    for line in text.split("\n"):
        if line.startswith((".", "'")):
            line = "\\&" + line
        out.append(line)
    return "\n".join(out)

# Walk the header: sections ("@name X"), doc comments, declarations.
token = re.compile(
    r"(/\*\*.*?\*/)|(/\*.*?\*/)|(EVPOOL_API\s+[^;]*?;)", re.S)
section = "libevpool"
sections = {}
pages = []
last_doc = None
for m in token.finditer(src):
    doc, other, decl = m.groups()
    if doc:
        text = clean_comment(doc)
        sm = re.match(r"@name\s+(.*)", text)
        if sm:
            section = sm.group(1).strip()
            last_doc = None
        else:
            last_doc = (text, m.end())
        continue
    if other:
        continue
    proto = re.sub(r"\s+", " ", decl.replace("EVPOOL_API", "").strip())
    proto = re.sub(r"\s*__attribute__.*?\)\)", "", proto)
    nm = re.search(r"(\w+)\s*\(", proto)
    if not nm:
        continue
    name = nm.group(1)
    text = ""
    if last_doc and src[last_doc[1]:m.start()].strip() == "":
        text = last_doc[0]
    last_doc = None
    sections.setdefault(section, []).append(name)
    pages.append((name, section, proto, text))

os.makedirs(OUTDIR, exist_ok=True)
written = []
for name, section, proto, text in pages:
    ret = []
    desc = []
    params = []
    cur = desc
    for para in re.split(r"\n(?=@)", text):
        para = "\n".join(l.strip() for l in para.split("\n"))
        if para.startswith("@return"):
            ret.append(para[len("@return"):].strip())
        elif para.startswith("@param"):
            pm = re.match(r"@param\s+(\w+)\s*(.*)", para, re.S)
            if pm:
                params.append((pm.group(1), pm.group(2).strip()))
        else:
            desc.append(para)
    body = "\n".join(l.strip() for l in "\n".join(desc).split("\n")).strip() or "See <evpool.h>."
    summary = re.sub(r"@p (\w+)", r"\1", re.split(r"(?<=\.)\s", body.replace("\n", " "))[0])
    body = re.sub(r"@p (\w+)", r"\\fI\1\\fP", roff(body))
    see = sorted(set(sections[section]) - {name})
    page = [
        '.\\" Generated from include/evpool.h by man/gen-man.py; do not edit.',
        '.TH %s 3 "" "libevpool %s" "libevpool manual"' % (name.upper(), VERSION),
        ".SH NAME",
        "%s \\- %s" % (name, roff(summary)),
        ".SH SYNOPSIS",
        ".nf",
        ".B #include <evpool.h>",
        ".PP",
        ".BI \"%s\"" % roff(proto).replace('"', '\\"'),
        ".fi",
        ".PP",
        "Link with \\fI$(pkg-config \\-\\-libs libevpool)\\fP.",
        ".SH DESCRIPTION",
        body.replace("\n\n", "\n.PP\n"),
    ]
    for p, d in params:
        page += [".TP", ".I %s" % p, re.sub(r"@p (\w+)", r"\\fI\1\\fP", roff(d))]
    if ret:
        page += [".SH RETURN VALUE"] + [re.sub(r"@p (\w+)", r"\\fI\1\\fP", roff(r)) for r in ret]
    page += [".SH THREADS",
             "Callable from any thread unless the description says otherwise. "
             "Completion callbacks run on the loop thread of the job's event_base. "
             "See \\fBevpool\\fP(3) for the contract."]
    page += [".SH SEE ALSO", ", ".join("\\fB%s\\fP(3)" % s for s in see + ["evpool"])]
    path = os.path.join(OUTDIR, name + ".3")
    with open(path, "w") as f:
        f.write("\n".join(page) + "\n")
    written.append(name + ".3")

# The overview page: the header's opening comment.
top = clean_comment(re.search(r"/\*.*?\*/", src, re.S).group(0))
with open(os.path.join(OUTDIR, "evpool.3"), "w") as f:
    f.write('.\\" Generated from include/evpool.h by man/gen-man.py; do not edit.\n')
    f.write('.TH EVPOOL 3 "" "libevpool %s" "libevpool manual"\n' % VERSION)
    f.write(".SH NAME\nevpool \\- offload blocking work from a libevent loop to worker threads or processes\n")
    f.write(".SH DESCRIPTION\n.nf\n%s\n.fi\n" % roff(top))
    f.write(".SH FUNCTIONS\n")
    for sec, names in sections.items():
        f.write(".SS %s\n%s\n" % (roff(sec), ", ".join("\\fB%s\\fP(3)" % n for n in names)))
written.append("evpool.3")

with open(os.path.join(OUTDIR, "pages.mk"), "w") as f:
    f.write("# Generated by man/gen-man.py: the man pages to install.\n")
    f.write("dist_man_MANS += \\\n\t" + " \\\n\t".join("man/" + w for w in sorted(written)) + "\n")
print("%d pages" % len(written))
