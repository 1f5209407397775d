#!/usr/bin/env python3
"""Generate one man page per public function from include/evpool.h.

<evpool.h> includes its parts (<evpool/core.h>, <evpool/process.h>,
<evpool/pyapi.h>); each `#include <evpool/...>` is read in its place, so
the functions are found in the order a compiler sees them.

Each EVPOOL_API declaration's preceding /** ... */ comment becomes the page:
NAME, SYNOPSIS (the prototype), DESCRIPTION, RETURN VALUE (its @return),
THREADS (what its "@name" section allows) and SEE ALSO (the functions of the
same section, and the pages of the public structs it takes).  Each public
struct gets a page too (man evpool_job_spec): its definition, its comment and
one entry per field.  Doxygen markup never reaches a page: @p and @c become
italics and bold, @return and @param their sections, wherever they stand;
non-ASCII characters become groff escapes (t/man-render.sh checks all of it).  The header is the one
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

# ---- text: Doxygen and Markdown markup to roff ----------------------------

def ascii_roff(text):
    """Non-ASCII characters as groff escapes (\[u2014]), so that every page
    renders the same whatever the reader's locale or preprocessor."""
    return re.sub(r"[^\x00-\x7f]", lambda m: "\\[u%04X]" % ord(m.group()), text)


def markup(text):
    """roff() plus the inline markup of the header comments: @p NAME and
    @a NAME (a parameter, italics), @c NAME and `code` (bold)."""
    text = roff(text)
    text = re.sub(r"@[pa] ([\w.>-]*\w)", r"\\fI\1\\fP", text)
    text = re.sub(r"@c ([\w.>()-]*[\w)])", r"\\fB\1\\fP", text)
    text = re.sub(r"`([^`\n]+)`", r"\\fB\1\\fP", text)
    return text


def plain(text):
    """The same markup dropped, for one-line summaries."""
    text = re.sub(r"@[pac] ([\w.>-]*\w)", r"\1", text)
    return text.replace("`", "")


def split_doc(text):
    """A comment's description, @param entries and @return text.  A block
    command starts a new paragraph wherever it stands, mid-line included
    ("... Non-blocking.  @return the number ...")."""
    text = re.sub(r"\s+@(return|returns|param)\b", r"\n@\1", text)
    desc, params, ret = [], [], []
    for para in re.split(r"\n(?=@(?:return|returns|param)\b)", text):
        para = "\n".join(l.strip() for l in para.split("\n"))
        if para.startswith("@return"):
            ret.append(re.sub(r"^@returns?\s*", "", para).strip())
        elif para.startswith("@param"):
            pm = re.match(r"@param\s+(\w+)\s*(.*)", para, re.S)
            if pm:
                params.append((pm.group(1), pm.group(2).strip()))
        else:
            desc.append(para)
    body = "\n".join(desc).strip()
    return body, params, ret


def summary_of(body):
    first = re.split(r"(?<=\.)\s", body.replace("\n", " "))[0]
    return plain(first).strip()


def paragraphs(text):
    """Blank lines of a comment as .PP; lines starting '- ' as list items."""
    out = []
    for line in markup(text).split("\n"):
        if line == "":
            out.append(".PP")
        elif re.match(r"\s*- ", line):
            out += [".IP \\(bu 3", re.sub(r"^\s*- ", "", line)]
        else:
            out.append(line)
    return out


# ---- what a section allows, for THREADS ---------------------------------------

def threads_note(section):
    if section.startswith("Inside a job"):
        return ("Call it only inside the job: from the job function, on the "
                "worker that runs it, with the ctx the job was given. The ctx "
                "is no longer valid once the job function has returned; no "
                "other thread may use it.")
    if "callable from any thread" in section:
        return ("Callable from any thread, including the loop thread and "
                "other jobs. Blocking calls, called on a loop thread of the "
                "pool, deliver that loop's completions while they wait.")
    return ("Callable from any thread unless the description says otherwise. "
            "Submitting from a thread other than the base's loop thread needs "
            "evthread_use_pthreads(). Completion callbacks run on the loop "
            "thread of the job's event_base. See \\fBevpool\\fP(3) for the "
            "contract.")


def see_also(names):
    return ", ".join("\\fB%s\\fP(3)" % s for s in names)


def page_top(name, summary):
    """A page's title, NAME, and SYNOPSIS up to the include line."""
    return ['.\\" Generated from include/evpool.h by man/gen-man.py; do not edit.',
            '.TH %s 3 "" "libevpool %s" "libevpool manual"' % (name.upper(), VERSION),
            ".SH NAME",
            "%s \\- %s" % (name, roff(summary)),
            ".SH SYNOPSIS",
            ".nf",
            ".B #include <evpool.h>"]


LINK = ("Compile and link with \\fI$(pkg\\-config \\-\\-cflags \\-\\-libs "
        "libevpool)\\fP.")

# ---- the public structs ---------------------------------------------------------

structs = []  # (name, doc, [(decl, name, comment)])
for m in re.finditer(r"(/\*\*(?:(?!\*/).)*\*/)\s*\nstruct (evpool_\w+) \{\n(.*?)\n\};",
                     src, re.S):
    doc, sname, body = clean_comment(m.group(1)), m.group(2), m.group(3)
    fields = []
    for fm in re.finditer(r"([^;]*?;)[ \t]*(/\*\*<(.*?)\*/)?", body, re.S):
        decl = re.sub(r"/\*.*?\*/", "", fm.group(1), flags=re.S)
        decl = re.sub(r"\s+", " ", decl).strip()
        if not decl:
            continue
        nm = re.search(r"\(\*(\w+)\)", decl) or re.search(r"(\w+)\s*(\[[^]]*\])*\s*;$", decl)
        comment = re.sub(r"\s+", " ", fm.group(3) or "").strip()
        fields.append((decl, nm.group(1), comment))
    structs.append((sname, doc, fields))
struct_names = [s[0] for s in structs]


def structs_in(proto):
    return [s for s in struct_names if re.search(r"\bstruct %s\b" % s, proto)]


os.makedirs(OUTDIR, exist_ok=True)
written = []


def write_page(fname, lines):
    with open(os.path.join(OUTDIR, fname), "w") as f:
        f.write(ascii_roff("\n".join(lines)) + "\n")
    written.append(fname)


# ---- one page per function ------------------------------------------------------

for name, section, proto, text in pages:
    body, params, ret = split_doc(text)
    body = body or "See <evpool.h>."
    see = sorted(set(sections[section]) - {name}) + structs_in(proto) + ["evpool"]
    page = page_top(name, summary_of(body)) + [
        ".PP",
        ".BI \"%s\"" % roff(proto).replace('"', '\\"'),
        ".fi",
        ".PP",
        LINK,
        ".SH DESCRIPTION",
    ] + paragraphs(body)
    for p, d in params:
        page += [".TP", ".I %s" % p] + paragraphs(d)
    if ret:
        page += [".SH RETURN VALUE"]
        for r in ret:
            page += paragraphs(r)
    page += [".SH THREADS", threads_note(section)]
    page += [".SH SEE ALSO", see_also(see)]
    write_page(name + ".3", page)

# ---- one page per public struct ------------------------------------------------

users = {s: [n for n, _sec, proto, _t in pages if s in structs_in(proto)]
         for s in struct_names}
for sname, doc, fields in structs:
    page = page_top(sname, summary_of(doc)) + [
        ".PP",
        ".B struct %s {" % sname,
    ]
    for decl, _fname, _c in fields:
        page.append(".BI \"    %s\"" % roff(decl).replace('"', '\\"'))
    page += [".B };", ".fi", ".PP", LINK, ".SH DESCRIPTION"] + paragraphs(doc)
    page += [".SH FIELDS"]
    for decl, fname, comment in fields:
        page += [".TP", ".B %s" % fname]
        if comment:
            page += paragraphs(comment + ("" if comment.endswith(".") else "."))
        elif fname.startswith("reserved"):
            page.append("Room for fields of later versions; leave it zero.")
        else:
            page.append("See the description.")
    page += [".SH SEE ALSO", see_also(users[sname] + ["evpool"])]
    write_page(sname + ".3", page)

# ---- the overview page: the header's opening comment ----------------------------

top = clean_comment(re.search(r"/\*.*?\*/", src, re.S).group(0))
page = page_top("evpool", "offload blocking work from a libevent loop to "
                "worker threads or processes") + [
    ".fi",
    ".PP",
    LINK,
    ".SH DESCRIPTION",
    ".nf",
    markup(top),
    ".fi",
    ".SH FUNCTIONS",
]
for sec, names in sections.items():
    page += [".SS %s" % roff(plain(sec)), see_also(names)]
page += [".SH STRUCTURES", see_also(struct_names)]
page += [".SH SEE ALSO",
         "The README and docs/ of the source tree; \\fBevent_base_new\\fP(3) "
         "and the rest of libevent's documentation."]
write_page("evpool.3", page)

with open(os.path.join(OUTDIR, "pages.mk"), "w") as f:
    f.write("# Generated by man/gen-man.py: the man pages to install.\n")
    f.write("dist_man_MANS += \\\n\t" + " \\\n\t".join("man/" + w for w in sorted(written)) + "\n")
print("%d pages" % len(written))
