"""Shared corpus helpers: locate/unpack the text bundle and read documents."""
import os
import tarfile

DOC_SEP = "\n\f\n"
CATEGORIES = ("children", "novels", "classics", "sotu", "docs")


def ensure_text(data_dir):
    """Return data_dir/text, unpacking data_dir/corpus.tar.xz first if the text files are not there."""
    text_dir = os.path.join(data_dir, "text")
    if not os.path.exists(os.path.join(text_dir, "train_docs.txt")):
        bundle = os.path.join(data_dir, "corpus.tar.xz")
        with tarfile.open(bundle) as t:  # only text/: a sources.json beside the bundle wins
            t.extractall(data_dir, members=[m for m in t.getmembers() if m.name.startswith("text")])
    return text_dir


def read_docs(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in f.read().split(DOC_SEP) if d.strip()]
