"""Long-context retrieval prompts: the evaluation prompt builders (normative; the Java evaluation reproduces them)
and the synthetic training data generator that uses the very same formats.

Everything above the line "TRAINING DATA" is pure Python with no dependencies and defines the evaluation prompts
(docs/architecture.md section 4). A tokenizer enters only through `count_tokens(text) -> int`, which must return the number of
tokens of `text` INCLUDING the BOS token that the tokenizer's post-processor adds (the KVPilot tokenizer adds `<s>`).

Passkey prompt (L = context length in tokens, pct = depth in percent, t = trial index):
    prompt = PASSKEY_INTRO + filler(a) + passkey_needle(key) + filler(n - a) + PASSKEY_QUESTION
    filler(k) = (" " + FILLER_UNIT) * k                    # k units, each preceded by one space
    key = eval_value(L, pct, t)                             # 5 digits, see eval_value
    n   = largest n >= 0 such that count_tokens(prompt) <= L - ANSWER_TOKENS
    a   = (n * pct + 50) // 100                             # integer arithmetic
  The model then decodes greedily up to ANSWER_TOKENS (8) new tokens; the trial passes iff the decoded
  continuation matches ^\\s*(\\d+) and the digits equal str(key) (exact match).

Multi-key prompt (K = 4 pairs, t = trial):
    prompt = MULTIKEY_INTRO + filler(p_0) + needle_0 + filler(p_1 - p_0) + needle_1 + ... + needle_{K-1}
             + filler(n - p_{K-1}) + multikey_question(names[q])
    names[i] = NAMES[(t * K + i) % len(NAMES)],  value_i = eval_value(L, 100 + i, t),  q = t % K
    needle_i = multikey_needle(names[i], value_i),  p_i = (n * (2 * i + 1)) // (2 * K)
    n = largest n >= 0 such that count_tokens(prompt) <= L - ANSWER_TOKENS
  Same greedy exact-match check against str(value_q).
"""
import random
import re

PASSKEY_INTRO = "There is an important pass key hidden inside a lot of irrelevant text. Find it and memorize it."
FILLER_UNIT = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again."
PASSKEY_QUESTION = "\nWhat is the pass key? The pass key is"
MULTIKEY_INTRO = ("There are several keys with values hidden inside a lot of irrelevant text. "
                  "Find them and memorize them.")
NAMES = ["apple", "river", "stone", "cloud", "tiger", "lemon", "piano", "candle", "forest", "silver", "garden",
         "rocket", "window", "dragon", "pepper", "castle"]
# more names for training only (the evaluation uses NAMES)
TRAIN_NAMES = NAMES + ["orange", "bridge", "mirror", "basket", "comet", "violet", "anchor", "pillow", "meadow",
                       "rabbit", "copper", "island", "lantern", "harbor", "falcon", "marble", "ribbon", "thunder",
                       "velvet", "walnut", "zebra", "cactus", "saddle", "feather", "engine", "pocket", "winter",
                       "summer", "button", "jacket", "kettle", "ladder"]
ANSWER_TOKENS = 8
DEPTHS_PCT = (10, 30, 50, 70, 90)
LENGTHS = (512, 1024, 2048)
MULTIKEY_K = 4


def filler(k):
    """k filler units, each preceded by a single space."""
    return (" " + FILLER_UNIT) * k


def passkey_needle(key):
    return f" The pass key is {key}. Remember it. {key} is the pass key."


def multikey_needle(name, value):
    return f" The value of the {name} key is {value}. Remember it."


def multikey_question(name):
    return f"\nWhat is the value of the {name} key? The value of the {name} key is"


def eval_value(length, slot, trial):
    """Deterministic 5-digit value (10000..99999); exact in 64-bit integer arithmetic (Java: long)."""
    return 10000 + ((trial + 1) * 2654435761 + length * 40503 + slot * 97) % 90000


def passkey_prompt(key, n, pct):
    a = (n * pct + 50) // 100
    return PASSKEY_INTRO + filler(a) + passkey_needle(key) + filler(n - a) + PASSKEY_QUESTION


def multikey_prompt(pairs, q, n):
    """pairs: list of (name, value); q: index of the asked pair; n: total filler units."""
    k = len(pairs)
    parts = [MULTIKEY_INTRO]
    prev = 0
    for i, (name, value) in enumerate(pairs):
        p = (n * (2 * i + 1)) // (2 * k)
        parts.append(filler(p - prev))
        parts.append(multikey_needle(name, value))
        prev = p
    parts.append(filler(n - prev))
    parts.append(multikey_question(pairs[q][0]))
    return "".join(parts)


def fit_units(build, count_tokens, max_tokens):
    """Largest n >= 0 with count_tokens(build(n)) <= max_tokens (count_tokens is monotonic in n)."""
    c0 = count_tokens(build(0))
    if c0 > max_tokens:
        raise ValueError("prompt does not fit even without filler")
    per = max(1, count_tokens(build(1)) - c0)
    n = max(0, (max_tokens - c0) // per)
    while n > 0 and count_tokens(build(n)) > max_tokens:
        n -= 1
    while count_tokens(build(n + 1)) <= max_tokens:
        n += 1
    return n


def passkey_eval_case(count_tokens, length, pct, trial):
    """-> (prompt, expected answer string)."""
    key = eval_value(length, pct, trial)
    n = fit_units(lambda m: passkey_prompt(key, m, pct), count_tokens, length - ANSWER_TOKENS)
    return passkey_prompt(key, n, pct), str(key)


def multikey_eval_case(count_tokens, length, trial, k=MULTIKEY_K):
    pairs = [(NAMES[(trial * k + i) % len(NAMES)], eval_value(length, 100 + i, trial)) for i in range(k)]
    q = trial % k
    n = fit_units(lambda m: multikey_prompt(pairs, q, m), count_tokens, length - ANSWER_TOKENS)
    return multikey_prompt(pairs, q, n), str(pairs[q][1])


def answer_correct(continuation, expected):
    m = re.match(r"\s*(\d+)", continuation)
    return bool(m) and m.group(1) == expected


# ============================================================================================== TRAINING DATA
class SyntheticGenerator:
    """Builds token sequences of exactly `seq_len + 1` ids (input + shifted target) with retrieval tasks.

    tok: a `tokenizers.Tokenizer`; natural(n, rng) -> list of n corpus token ids (random window of real text).
    Pieces are tokenized separately and concatenated; every piece boundary is a pre-token boundary of the
    byte-level BPE (before a space-led word or a newline), so the ids equal those of tokenizing the whole string
    (checked by `check_consistency`). Returns (ids, weights): weights is 1.0 per target except `answer_weight`
    on the targets that are retrieval answers.
    """

    def __init__(self, tok, natural, seq_len, bos_id=1, eos_id=2, answer_weight=4.0):
        self.tok = tok
        self.natural = natural
        self.seq_len = seq_len
        self.bos, self.eos = bos_id, eos_id
        self.answer_weight = answer_weight
        self._cache = {}
        self.unit = self.enc(" " + FILLER_UNIT)

    def enc(self, s):
        ids = self._cache.get(s)
        if ids is None:
            ids = self.tok.encode(s, add_special_tokens=False).ids
            if len(self._cache) < 20000:
                self._cache[s] = ids
        return ids

    def enc_nc(self, s):  # not cached (strings with random numbers)
        return self.tok.encode(s, add_special_tokens=False).ids

    def filler_ids(self, ntok, rng, natural):
        if ntok <= 0:
            return []
        if natural:
            return list(self.natural(ntok, rng))
        k = max(0, ntok // len(self.unit))
        return self.unit * k

    def check_consistency(self, rng=None):
        """Token-level assembly of the classic-filler prompts == tokenizing the whole string."""
        rng = rng or random.Random(0)
        bad = 0
        for t in range(20):
            key = rng.randint(10000, 99999)
            n, pct = rng.randint(0, 30), rng.choice(DEPTHS_PCT)
            a = (n * pct + 50) // 100
            whole = self.tok.encode(passkey_prompt(key, n, pct) + f" {key}.", add_special_tokens=False).ids
            parts = (self.enc(PASSKEY_INTRO) + self.unit * a + self.enc_nc(passkey_needle(key)) + self.unit * (n - a)
                     + self.enc(PASSKEY_QUESTION) + self.enc_nc(f" {key}."))
            bad += whole != parts
            pairs = [(rng.choice(TRAIN_NAMES), rng.randint(10000, 99999)) for _ in range(3)]
            whole = self.tok.encode(multikey_prompt(pairs, 1, n), add_special_tokens=False).ids
            k, prev, parts = 3, 0, self.enc(MULTIKEY_INTRO)
            for i, (nm, v) in enumerate(pairs):
                p = (n * (2 * i + 1)) // (2 * k)
                parts = parts + self.unit * (p - prev) + self.enc_nc(multikey_needle(nm, v))
                prev = p
            parts = parts + self.unit * (n - prev) + self.enc(multikey_question(pairs[1][0]))
            bad += whole != parts
        return bad

    # ---- examples: each returns (ids, answer_mask) without BOS/EOS
    def _target_len(self, rng):
        if rng.random() < 0.5:
            return rng.randint(self.seq_len - 80, self.seq_len - 12)
        return rng.randint(96, self.seq_len - 12)

    def passkey(self, rng):
        natural = rng.random() < 0.4
        key = str(rng.randint(10000, 99999))
        intro = self.enc(PASSKEY_INTRO) if (not natural or rng.random() < 0.5) else []
        needle = self.enc_nc(passkey_needle(key))
        q = self.enc(PASSKEY_QUESTION)
        ans = self.enc_nc(f" {key}.")
        budget = self._target_len(rng) - len(intro) - len(needle) - len(q) - len(ans)
        fill = self.filler_ids(budget, rng, natural)
        if natural:
            a = rng.randint(0, len(fill))
        else:
            nu = len(fill) // len(self.unit)
            a = rng.randint(0, nu) * len(self.unit)
        ids = intro + fill[:a] + needle + fill[a:] + q
        mask = [0] * len(ids) + [1] * (len(ans) - 1) + [0]  # the final "." is not an answer token
        return ids + ans, mask

    def multikey(self, rng):
        natural = rng.random() < 0.4
        k = rng.randint(2, 8)
        names = rng.sample(TRAIN_NAMES, k)
        pairs = [(nm, str(rng.randint(10000, 99999))) for nm in names]
        intro = self.enc(MULTIKEY_INTRO)
        needles = [self.enc_nc(multikey_needle(nm, v)) for nm, v in pairs]
        nq = rng.randint(1, 3)
        qs = rng.sample(range(k), min(nq, k))
        qa = []
        for qi in qs:
            qa.append((self.enc(multikey_question(pairs[qi][0])), self.enc_nc(f" {pairs[qi][1]}.")))
        fixed = len(intro) + sum(map(len, needles)) + sum(len(a) + len(b) for a, b in qa)
        budget = self._target_len(rng) - fixed
        fill = self.filler_ids(budget, rng, natural)
        step = 1 if natural else len(self.unit)
        slots = len(fill) // step
        cuts = sorted(rng.randint(0, slots) * step for _ in range(k))
        ids, prev = list(intro), 0
        for c, nd in zip(cuts, needles):
            ids += fill[prev:c] + nd
            prev = c
        ids += fill[prev:]
        mask = [0] * len(ids)
        for qt, at in qa:
            ids += qt + at
            mask += [0] * len(qt) + [1] * (len(at) - 1) + [0]
        return ids, mask

    def copy(self, rng):
        plen = rng.randint(16, 200)
        passage = list(self.natural(plen, rng))
        natural = rng.random() < 0.5
        budget = self._target_len(rng) - 2 * plen
        fill = self.filler_ids(budget, rng, natural)
        sep = self.enc("\n\n")
        ids = passage + sep + fill + sep
        mask = [0] * len(ids) + [1] * plen
        return ids + passage, mask

    def sequence(self, rng):
        """-> (ids of length seq_len + 1, weights of length seq_len for the targets ids[1:])."""
        r = rng.random()
        ids, mask = (self.passkey if r < 0.45 else self.multikey if r < 0.75 else self.copy)(rng)
        ids = [self.bos] + ids[: self.seq_len - 1]
        mask = [0] + mask[: self.seq_len - 1]
        rest = self.seq_len + 1 - len(ids)
        if rest > 0:
            tail = [self.eos, self.bos] + list(self.natural(rest, rng))
            ids += tail[:rest]
            mask += [0] * rest
        w = [1.0 + (self.answer_weight - 1.0) * m for m in mask[1:]]
        return ids, w
