#!/usr/bin/env python3
"""Export a train.py checkpoint as a Hugging Face LlamaForCausalLM directory (bf16 safetensors).

    python3 training/export.py --ckpt training/out/run/model.pt --tokenizer models/kvpilot-mini/tokenizer.json \
        --out models/kvpilot-mini

Writes config.json, generation_config.json, model.safetensors (bf16, tied embeddings: no lm_head.weight),
tokenizer.json, tokenizer_config.json (with a basic Jinja chat template), special_tokens_map.json.
train.py calls export_hf() itself at the end of training.
"""
import argparse
import json
import os
import shutil

CHAT_TEMPLATE = ("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
                 "{% if add_generation_prompt %}assistant:{% endif %}")


def hf_config(c):
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": c["vocab_size"],
        "hidden_size": c["hidden_size"],
        "intermediate_size": c["intermediate_size"],
        "num_hidden_layers": c["num_hidden_layers"],
        "num_attention_heads": c["num_attention_heads"],
        "num_key_value_heads": c["num_key_value_heads"],
        "head_dim": c["head_dim"],
        "hidden_act": "silu",
        "max_position_embeddings": c["max_position_embeddings"],
        "rms_norm_eps": c["rms_norm_eps"],
        "rope_theta": c["rope_theta"],
        "rope_scaling": None,
        "rope_parameters": {"rope_type": "default", "rope_theta": c["rope_theta"]},
        "attention_bias": False,
        "attention_dropout": 0.0,
        "mlp_bias": False,
        "tie_word_embeddings": True,
        "initializer_range": 0.02,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "pad_token_id": 3,
        "torch_dtype": "bfloat16",
        "dtype": "bfloat16",
        "use_cache": True,
    }


def export_hf(state, c, tokenizer_path, out_dir, summary=None):
    import torch
    from safetensors.torch import save_file
    os.makedirs(out_dir, exist_ok=True)
    tensors = {k: v.detach().to(torch.bfloat16).contiguous() for k, v in state.items() if k != "lm_head.weight"}
    save_file(tensors, os.path.join(out_dir, "model.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(hf_config(c), f, indent=2)
    with open(os.path.join(out_dir, "generation_config.json"), "w") as f:
        json.dump({"bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 3,
                   "max_length": c["max_position_embeddings"]}, f, indent=2)
    write_tokenizer_files(tokenizer_path, out_dir, c["max_position_embeddings"])
    if summary is not None:
        with open(os.path.join(out_dir, "training_summary.json"), "w") as f:
            json.dump(summary, f, indent=1)


def write_tokenizer_files(tokenizer_path, out_dir, max_len=2048):
    dst = os.path.join(out_dir, "tokenizer.json")
    if os.path.abspath(tokenizer_path) != os.path.abspath(dst):
        shutil.copyfile(tokenizer_path, dst)
    tc = {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<s>", "eos_token": "</s>",
          "unk_token": "<unk>", "pad_token": "<pad>", "model_max_length": max_len,
          "clean_up_tokenization_spaces": False, "chat_template": CHAT_TEMPLATE}
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w") as f:
        json.dump(tc, f, indent=2)
    with open(os.path.join(out_dir, "special_tokens_map.json"), "w") as f:
        json.dump({"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>"}, f,
                  indent=2)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ckpt", default="training/out/run/model.pt")
    ap.add_argument("--tokenizer", default="models/kvpilot-mini/tokenizer.json")
    ap.add_argument("--out", default="models/kvpilot-mini")
    args = ap.parse_args()
    import torch
    ck = torch.load(args.ckpt, map_location="cpu")
    summ = os.path.join(os.path.dirname(args.ckpt), "training_summary.json")
    export_hf(ck["state"], ck["config"], args.tokenizer, args.out,
              json.load(open(summ)) if os.path.exists(summ) else None)
    print("exported", args.out)


if __name__ == "__main__":
    main()
