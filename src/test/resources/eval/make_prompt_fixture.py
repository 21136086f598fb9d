"""Writes prompts.json beside this file: evaluation prompts built by training/synthetic.py (the normative builders)
with a stand-in token counter, so RetrievalPromptsTest can compare the Java builders character for character
without a tokenizer in Python. Run from the repository root: python3 src/test/resources/eval/make_prompt_fixture.py
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "..", "training"))
import synthetic  # noqa: E402


def count(s):
    # stand-in tokenizer: BOS + one token per 4 UTF-8 bytes (monotonic, like a real one); RetrievalPromptsTest uses it too
    return 1 + (len(s.encode("utf-8")) + 3) // 4


cases = []
for length in (512, 1024, 2048):
    for pct in synthetic.DEPTHS_PCT:
        for trial in range(1):
            p, e = synthetic.passkey_eval_case(count, length, pct, trial)
            cases.append({"task": "passkey", "length": length, "pct": pct, "trial": trial, "prompt": p,
                          "expected": e})
    for trial in range(3):
        p, e = synthetic.multikey_eval_case(count, length, trial)
        cases.append({"task": "multikey", "length": length, "pct": 0, "trial": trial, "prompt": p, "expected": e})
answers = [[c, e, synthetic.answer_correct(c, e)] for c, e in
           [(" 24267.", "24267"), ("24267", "24267"), (" 2426", "24267"), (" 242671", "24267"), ("\n 12345 x", "12345"),
            (" x12345", "12345"), ("", "12345"), ("\t\u00a012345", "12345")]]
with open(os.path.join(HERE, "prompts.json"), "w", encoding="utf-8") as f:
    json.dump({"cases": cases, "answers": answers}, f, indent=0, ensure_ascii=True)
print(len(cases), "cases")
