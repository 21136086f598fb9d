#!/usr/bin/env python3
"""Train the KVPilot byte-level BPE tokenizer (HF `tokenizers`), vocab 8192.

    python3 training/train_tokenizer.py --data training/data --out models/kvpilot-mini/tokenizer.json

Special tokens: <unk>=0, <s>=1 (BOS), </s>=2 (EOS), <pad>=3. Pre-tokenizer: ByteLevel (GPT-2 regex,
add_prefix_space=false); decoder: ByteLevel; post-processor: TemplateProcessing that puts <s> before every sequence
(so `encode(text)` returns [1, ...]; pass add_special_tokens=False to get the bare ids).
Trained on the training split only (held-out text is never seen), with the books in full and the larger
State-of-the-Union and documentation sets capped, so that the vocabulary serves both stories and prose docs.
"""
import argparse
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from corpus_io import ensure_text, read_docs  # noqa: E402

SPECIALS = ["<unk>", "<s>", "</s>", "<pad>"]


def build_tokenizer(texts, vocab_size=8192):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B",
                                                       special_tokens=[("<s>", 1)])
    for i, s in enumerate(SPECIALS):
        assert tok.token_to_id(s) == i, (s, tok.token_to_id(s))
    return tok


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="training/data")
    ap.add_argument("--out", default="models/kvpilot-mini/tokenizer.json")
    ap.add_argument("--vocab", type=int, default=8192)
    ap.add_argument("--cap-mb", type=float, default=12.0, help="cap per category (sotu, docs) in MB of text")
    args = ap.parse_args()
    t0 = time.time()
    text_dir = ensure_text(args.data)
    rng = random.Random(0)
    texts = []
    for cat in ("children", "novels", "classics", "sotu", "docs"):
        docs = read_docs(os.path.join(text_dir, f"train_{cat}.txt"))
        rng.shuffle(docs)
        taken = 0
        for d in docs:
            if taken > args.cap_mb * 1e6:
                break
            # feed paragraphs in chunks so the trainer parallelises
            paras = d.split("\n\n")
            for i in range(0, len(paras), 16):
                texts.append("\n\n".join(paras[i:i + 16]))
            taken += len(d)
        print(f"{cat}: {taken / 1e6:.1f} MB", flush=True)
    tok = build_tokenizer(texts, args.vocab)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    tok.save(args.out)
    enc = tok.encode("Once upon a time, there was a little rabbit. The pass key is 71432.")
    print("vocab", tok.get_vocab_size(), "example", enc.ids, enc.tokens, f"{time.time() - t0:.1f}s", flush=True)


if __name__ == "__main__":
    main()
