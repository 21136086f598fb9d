#!/usr/bin/env python3
"""Converts a Hugging Face LLaMA checkpoint (safetensors) to an F32 GGUF file that llama.cpp loads, with numpy only.

For the same-checkpoint comparison with llama.cpp (bench/llamacpp_compare.sh, docs/benchmarks.md): llama.cpp's own
converter (convert_hf_to_gguf.py) needs torch and transformers, which this machine does not have. This script does
what that converter does for a plain LLaMA checkpoint with `--outtype f32`:

- reads the safetensors files itself (8-byte little-endian header length, JSON header, raw little-endian data);
  F32, F16 and BF16 weights are widened to F32 exactly;
- names the tensors through gguf-py's LLaMA tensor map (token_embd, blk.N.attn_q, ..., output) and permutes the
  rows of every Q and K projection the way convert_hf_to_gguf.py's LlamaModel.permute does: Hugging Face rotates
  the two halves of a head (x[i], x[i + d/2]) and llama.cpp rotates adjacent pairs (x[2i], x[2i + 1]);
- writes the architecture keys that convert_hf_to_gguf.py writes (context / embedding / FFN length, block count,
  head counts, RMS eps, rope base and dimension count, key/value length when config.json has head_dim, file type
  ALL_F32) and no `output.weight` for tied embeddings (llama.cpp then reuses token_embd);
- vocabulary: a byte-level BPE tokenizer.json becomes a "gpt2" vocabulary with the GPT-2 pre-tokenizer, its
  merges and special tokens (kvpilot-mini's tokenizer); without one (the random benchmark checkpoint) a synthetic
  SentencePiece-style vocabulary of the checkpoint's size: <unk>, <s>, </s>, the 256 byte tokens <0x00>..<0xFF>,
  then filler tokens "▁tokN". llama-bench feeds random token ids, so the filler's content does not matter, but
  text through it is meaningless.

The GGUF writer is llama.cpp's gguf-py package (pure Python + numpy), taken from a llama.cpp source tree given with
--gguf-py or $GGUF_PY; its package __init__ is bypassed because it imports sentencepiece, which only the vocabulary
helpers that this script does not use need.

After writing, the file is read back with gguf-py's reader and every tensor compared with the source (exact).

Usage: python3 bench/llamacpp_gguf.py MODEL_DIR OUT.gguf [--gguf-py LLAMA_CPP_SRC/gguf-py] [--no-verify]
"""

from __future__ import annotations

import argparse
import importlib
import importlib.machinery
import importlib.util
import json
import os
import struct
import sys
import time
from pathlib import Path

import numpy as np

SAFETENSORS_DTYPES = {"F32": np.dtype("<f4"), "F16": np.dtype("<f2"), "BF16": np.dtype("<u2"), "F64": np.dtype("<f8")}


def fail(message: str) -> None:
    print(f"llamacpp_gguf: {message}", file=sys.stderr)
    sys.exit(2)


def import_gguf(gguf_py: Path):
    """gguf-py's writer, reader, constants and tensor map, without the package __init__ (see the module doc)."""
    package_dir = gguf_py / "gguf"
    if not (package_dir / "gguf_writer.py").is_file():
        fail(f"{package_dir} has no gguf_writer.py: pass --gguf-py LLAMA_CPP_SRC/gguf-py or set GGUF_PY")
    spec = importlib.machinery.ModuleSpec("gguf", None, is_package=True)
    package = importlib.util.module_from_spec(spec)
    package.__path__ = [str(package_dir)]
    sys.modules["gguf"] = package
    return (importlib.import_module("gguf.constants"), importlib.import_module("gguf.gguf_writer"),
            importlib.import_module("gguf.gguf_reader"), importlib.import_module("gguf.tensor_mapping"))


class SafetensorsCheckpoint:
    """The tensors of model.safetensors, or of the shards named by model.safetensors.index.json, memory-mapped."""

    def __init__(self, model_dir: Path):
        index = model_dir / "model.safetensors.index.json"
        if index.is_file():
            files = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        elif (model_dir / "model.safetensors").is_file():
            files = ["model.safetensors"]
        else:
            fail(f"{model_dir} has neither model.safetensors nor model.safetensors.index.json")
        self.entries: dict[str, tuple[np.memmap, dict]] = {}
        for name in files:
            path = model_dir / name
            with open(path, "rb") as f:
                (header_len,) = struct.unpack("<Q", f.read(8))
                header = json.loads(f.read(header_len))
            data = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + header_len)
            for tensor, meta in header.items():
                if tensor == "__metadata__":
                    continue
                if meta["dtype"] not in SAFETENSORS_DTYPES:
                    fail(f"{path}: tensor {tensor} has dtype {meta['dtype']}; only {list(SAFETENSORS_DTYPES)} are read")
                self.entries[tensor] = (data, meta)

    def names(self) -> list[str]:
        return list(self.entries)

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(self.entries[name][1]["shape"])

    def f32(self, name: str) -> np.ndarray:
        data, meta = self.entries[name]
        begin, end = meta["data_offsets"]
        raw = data[begin:end].view(SAFETENSORS_DTYPES[meta["dtype"]])
        if meta["dtype"] == "BF16":
            values = (raw.astype(np.uint32) << 16).view(np.float32)  # bfloat16 is the top half of a float32
        else:
            values = raw.astype(np.float32)
        return values.reshape(meta["shape"])


class LlamaConfig:
    def __init__(self, model_dir: Path):
        path = model_dir / "config.json"
        if not path.is_file():
            fail(f"{model_dir} has no config.json")
        c = json.loads(path.read_text())
        archs = c.get("architectures") or []
        if "LlamaForCausalLM" not in archs and c.get("model_type") != "llama":
            fail(f"{path}: architectures {archs}, model_type {c.get('model_type')}: only LLaMA checkpoints are converted")
        scaling = c.get("rope_scaling") or {}
        rope_type = scaling.get("rope_type", scaling.get("type", "default"))
        if rope_type not in ("default", None):
            fail(f"{path}: rope scaling '{rope_type}' is not converted (llama3 scaling needs a rope_freqs tensor)")
        self.raw = c
        self.dim = c["hidden_size"]
        self.layers = c["num_hidden_layers"]
        self.heads = c["num_attention_heads"]
        self.kv_heads = c.get("num_key_value_heads") or self.heads
        self.head_dim = c.get("head_dim") or self.dim // self.heads
        self.ffn = c["intermediate_size"]
        self.vocab = c["vocab_size"]
        self.context = c.get("max_position_embeddings", 2048)
        self.rms_eps = c.get("rms_norm_eps", 1e-6)
        self.rope_theta = c.get("rope_theta", (c.get("rope_parameters") or {}).get("rope_theta", 10000.0))
        self.tied = bool(c.get("tie_word_embeddings", False))


def permute_for_rope(w: np.ndarray, heads: int) -> np.ndarray:
    """convert_hf_to_gguf.py's LlamaModel.permute: per head, rows [0, d/2) and [d/2, d) interleave (2i, 2i + 1)."""
    return w.reshape(heads, 2, w.shape[0] // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def check_permutation(hf: np.ndarray, gguf_rows: np.ndarray, head_dim: int) -> None:
    """Row 2i of a permuted head is row i of the Hugging Face head, row 2i + 1 is row i + d/2."""
    half = head_dim // 2
    for i in (0, half - 1):
        if not (np.array_equal(gguf_rows[2 * i], hf[i]) and np.array_equal(gguf_rows[2 * i + 1], hf[i + half])):
            fail("Q/K row permutation check failed")


def source_tensors(ckpt: SafetensorsCheckpoint, cfg: LlamaConfig, name_map) -> list[tuple[str, str]]:
    """(GGUF name, checkpoint name) in checkpoint order, rotary caches dropped; unknown names are an error."""
    out = []
    for name in ckpt.names():
        if name.endswith("rotary_emb.inv_freq"):
            continue
        gguf_name = name_map.get_name(name, try_suffixes=(".weight", ".bias"))
        if gguf_name is None:
            fail(f"tensor {name} has no llama.cpp LLaMA name")
        out.append((gguf_name, name))
    have = {g for g, _ in out}
    if cfg.tied and "output.weight" in have:
        print("note: tie_word_embeddings is set but the checkpoint has lm_head.weight; writing it as output.weight")
    return out


def expected_shape(gguf_name: str, cfg: LlamaConfig) -> tuple[int, ...]:
    """The numpy shape (rows, columns) that llama.cpp's LLaMA loader asks for (llama-model.cpp, ggml order reversed)."""
    leaf = gguf_name.split(".")[-2] if gguf_name.startswith("blk.") else gguf_name.rsplit(".", 1)[0]
    q, kv = cfg.heads * cfg.head_dim, cfg.kv_heads * cfg.head_dim
    return {
        "token_embd": (cfg.vocab, cfg.dim), "output": (cfg.vocab, cfg.dim), "output_norm": (cfg.dim,),
        "attn_norm": (cfg.dim,), "ffn_norm": (cfg.dim,), "attn_q": (q, cfg.dim), "attn_k": (kv, cfg.dim),
        "attn_v": (kv, cfg.dim), "attn_output": (cfg.dim, q), "ffn_gate": (cfg.ffn, cfg.dim),
        "ffn_up": (cfg.ffn, cfg.dim), "ffn_down": (cfg.dim, cfg.ffn),
    }[leaf]


def converted(ckpt: SafetensorsCheckpoint, cfg: LlamaConfig, gguf_name: str, name: str) -> np.ndarray:
    w = ckpt.f32(name)
    if ".attn_q." in gguf_name:
        w = permute_for_rope(w, cfg.heads)
    elif ".attn_k." in gguf_name:
        w = permute_for_rope(w, cfg.kv_heads)
    return np.ascontiguousarray(w, dtype=np.float32)


def byte_level_bpe(model_dir: Path, cfg: LlamaConfig, TokenType):
    """kvpilot-mini's kind of tokenizer.json (BPE, ByteLevel pre-tokenizer) as llama.cpp's "gpt2" vocabulary, or None."""
    path = model_dir / "tokenizer.json"
    if not path.is_file():
        return None
    tok = json.loads(path.read_text())
    model, pre = tok.get("model") or {}, tok.get("pre_tokenizer") or {}
    if model.get("type") != "BPE" or pre.get("type") != "ByteLevel" or not pre.get("use_regex", True):
        print(f"note: {path} is not a byte-level BPE tokenizer with the GPT-2 regex; using a synthetic vocabulary")
        return None
    vocab: dict[str, int] = dict(model["vocab"])
    added = {t["id"]: t for t in tok.get("added_tokens", [])}
    for i, t in added.items():
        vocab.setdefault(t["content"], i)
    if max(vocab.values()) >= cfg.vocab:
        fail(f"{path} has token ids up to {max(vocab.values())}, config.json vocab_size is {cfg.vocab}")
    by_id = {i: s for s, i in vocab.items()}
    tokens, types = [], []
    for i in range(cfg.vocab):
        if i not in by_id:
            tokens.append(f"[PAD{i}]")  # as convert_hf_to_gguf.py pads a vocabulary smaller than the embedding
            types.append(TokenType.UNUSED)
        else:
            tokens.append(by_id[i])
            types.append(TokenType.CONTROL if added.get(i, {}).get("special") else TokenType.NORMAL)
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]
    config = {}
    if (model_dir / "tokenizer_config.json").is_file():
        config = json.loads((model_dir / "tokenizer_config.json").read_text())

    def special(key: str, fallback: str) -> int | None:
        text = config.get(key, fallback)
        text = text.get("content") if isinstance(text, dict) else text
        return vocab.get(text) if text is not None else None

    add_bos = config.get("add_bos_token")
    if add_bos is None:  # a TemplateProcessing post-processor that starts every text with the BOS token
        single = (tok.get("post_processor") or {}).get("single") or [{}]
        bos_text = config.get("bos_token", "<s>")
        add_bos = single[0].get("SpecialToken", {}).get("id") == bos_text
    return {"model": "gpt2", "pre": "gpt-2", "tokens": tokens, "types": types, "scores": None, "merges": merges,
            "bos": special("bos_token", "<s>"), "eos": special("eos_token", "</s>"),
            "unk": special("unk_token", "<unk>"), "pad": special("pad_token", None), "add_bos": bool(add_bos)}


def synthetic_spm(cfg: LlamaConfig, TokenType):
    """<unk>, <s>, </s>, 256 byte tokens, then unique filler pieces up to the checkpoint's vocabulary size."""
    if cfg.vocab < 3 + 256:
        fail(f"vocab_size {cfg.vocab} is too small for a synthetic vocabulary (needs at least 259)")
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    types = [TokenType.UNKNOWN, TokenType.CONTROL, TokenType.CONTROL] + [TokenType.BYTE] * 256
    fillers = cfg.vocab - len(tokens)
    tokens += [f"\u2581tok{i}" for i in range(fillers)]
    types += [TokenType.NORMAL] * fillers
    scores = [0.0] * (3 + 256) + [-float(i) for i in range(fillers)]
    return {"model": "llama", "pre": "default", "tokens": tokens, "types": types, "scores": scores, "merges": None,
            "bos": 1, "eos": 2, "unk": 0, "pad": None, "add_bos": True}


def write_vocab(writer, v: dict) -> None:
    writer.add_tokenizer_model(v["model"])
    writer.add_tokenizer_pre(v["pre"])
    writer.add_token_list(v["tokens"])
    writer.add_token_types([int(t) for t in v["types"]])
    if v["scores"] is not None:
        writer.add_token_scores(v["scores"])
    if v["merges"] is not None:
        writer.add_token_merges(v["merges"])
    for key, add in (("bos", writer.add_bos_token_id), ("eos", writer.add_eos_token_id),
                     ("unk", writer.add_unk_token_id), ("pad", writer.add_pad_token_id)):
        if v[key] is not None:
            add(v[key])
    writer.add_add_bos_token(v["add_bos"])
    writer.add_add_eos_token(False)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model_dir", type=Path, help="Hugging Face LLaMA checkpoint directory (config.json + safetensors)")
    p.add_argument("out", type=Path, help="GGUF file to write")
    p.add_argument("--gguf-py", type=Path, default=os.environ.get("GGUF_PY"),
                   help="llama.cpp's gguf-py directory (default: $GGUF_PY)")
    p.add_argument("--no-verify", action="store_true", help="skip reading the file back")
    a = p.parse_args()
    if a.gguf_py is None:
        fail("pass --gguf-py LLAMA_CPP_SRC/gguf-py or set GGUF_PY")
    constants, gguf_writer, gguf_reader, tensor_mapping = import_gguf(a.gguf_py)

    t0 = time.time()
    cfg = LlamaConfig(a.model_dir)
    ckpt = SafetensorsCheckpoint(a.model_dir)
    name_map = tensor_mapping.get_tensor_name_map(constants.MODEL_ARCH.LLAMA, cfg.layers)
    plan = source_tensors(ckpt, cfg, name_map)
    for gguf_name, name in plan:
        want = expected_shape(gguf_name, cfg)
        if ckpt.shape(name) != want:
            fail(f"{name}: shape {list(ckpt.shape(name))}, llama.cpp expects {list(want)} for {gguf_name}")
    missing = {"token_embd.weight", "output_norm.weight"} - {g for g, _ in plan}
    if missing or (not cfg.tied and "output.weight" not in {g for g, _ in plan}):
        fail(f"checkpoint lacks {sorted(missing) or ['lm_head.weight']}")

    vocab = byte_level_bpe(a.model_dir, cfg, constants.TokenType) or synthetic_spm(cfg, constants.TokenType)

    a.out.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf_writer.GGUFWriter(a.out, "llama")
    writer.add_type(constants.GGUFType.MODEL)
    writer.add_name(a.model_dir.resolve().name)
    writer.add_context_length(cfg.context)
    writer.add_embedding_length(cfg.dim)
    writer.add_feed_forward_length(cfg.ffn)
    writer.add_block_count(cfg.layers)
    writer.add_head_count(cfg.heads)
    writer.add_head_count_kv(cfg.kv_heads)
    writer.add_rope_freq_base(float(cfg.rope_theta))
    writer.add_layer_norm_rms_eps(float(cfg.rms_eps))
    if "head_dim" in cfg.raw:
        writer.add_key_length(cfg.head_dim)
        writer.add_value_length(cfg.head_dim)
    writer.add_file_type(constants.LlamaFileType.ALL_F32)
    writer.add_vocab_size(cfg.vocab)
    writer.add_rope_dimension_count(cfg.head_dim)
    writer.add_quantization_version(constants.GGML_QUANT_VERSION)
    write_vocab(writer, vocab)

    # streamed: tensor infos first, then each tensor converted and written in turn
    for gguf_name, name in plan:
        shape = ckpt.shape(name)
        writer.add_tensor_info(gguf_name, shape, np.dtype(np.float32), 4 * int(np.prod(shape)))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for gguf_name, name in plan:
        w = converted(ckpt, cfg, gguf_name, name)
        if gguf_name == "blk.0.attn_q.weight":
            check_permutation(ckpt.f32(name)[:cfg.head_dim], w[:cfg.head_dim], cfg.head_dim)
        writer.write_tensor_data(w)
    writer.close()
    params = sum(int(np.prod(ckpt.shape(n))) for _, n in plan)
    print(f"wrote {a.out}: {len(plan)} tensors, {params / 1e6:.1f}M parameters, F32, vocabulary {vocab['model']}"
          f" ({cfg.vocab} tokens{', synthetic' if vocab['merges'] is None else ', from tokenizer.json'}),"
          f" tied embeddings {cfg.tied}, {time.time() - t0:.1f} s")

    if not a.no_verify:
        reader = gguf_reader.GGUFReader(a.out)
        got = {t.name: t for t in reader.tensors}
        if sorted(got) != sorted(g for g, _ in plan):
            fail(f"read back {len(got)} tensors, wrote {len(plan)}")
        for gguf_name, name in plan:
            t = got[gguf_name]
            if t.tensor_type != constants.GGMLQuantizationType.F32:
                fail(f"{gguf_name}: read back as {t.tensor_type}")
            data = np.asarray(t.data).reshape(ckpt.shape(name))
            if not np.array_equal(data, converted(ckpt, cfg, gguf_name, name)):
                fail(f"{gguf_name}: data read back differs from {name}")
        arch = reader.fields["general.architecture"]
        print(f"verified {a.out}: architecture {bytes(arch.parts[arch.data[0]]).decode()},"
              f" {len(got)} tensors equal to the checkpoint's (Q/K rows permuted for llama.cpp's rope)")


if __name__ == "__main__":
    main()
