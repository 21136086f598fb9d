"""Renders the chat-template corpus into the fixtures KVPilot's Java renderer must reproduce byte for byte.

The environment mirrors transformers' ``_compile_jinja_template`` (transformers/utils/chat_template_utils.py):
``ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols, generation])``
with its ``tojson`` filter (``json.dumps`` with ``ensure_ascii=False``), ``raise_exception`` and ``strftime_now``
globals, rendered with ``messages``, ``tools``, ``documents``, ``add_generation_prompt`` and the tokenizer's special
tokens, as ``apply_chat_template`` passes them. ``strftime_now`` is pinned to 2026-07-26 10:30:00 so fixtures are
stable. With ``--transformers`` it uses transformers' own compiler instead (needs transformers installed), which is
the check that this mirror has not drifted.

Usage (from the repository root):
    python3 training/chat_templates/render_fixtures.py            # writes src/test/resources/chat-templates/fixtures.json
    python3 training/chat_templates/render_fixtures.py --transformers --check
"""
import argparse
import json
import sys
from datetime import datetime
from pathlib import Path

import jinja2
from jinja2.ext import Extension, loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "src/test/resources/chat-templates"
PINNED_NOW = datetime(2026, 7, 26, 10, 30, 0)


class GenerationTag(Extension):
    """transformers' AssistantTracker without the tracking: {% generation %}...{% endgeneration %} renders its body."""
    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return jinja2.nodes.Scope(body, lineno=lineno)


def compile_like_transformers(source):
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(format):
        return PINNED_NOW.strftime(format)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[GenerationTag, loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env.from_string(source)


def compile_with_transformers(source):
    from unittest import mock
    from transformers.utils import chat_template_utils as ctu
    ctu._compile_jinja_template.cache_clear()
    with mock.patch.object(ctu, "datetime") as dt:
        dt.now.return_value = PINNED_NOW
        return ctu._compile_jinja_template(source)


SPECIAL_TOKENS = {
    "llama": {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"},
    "qwen": {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"},
    "mistral": {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"},
    "gemma": {"bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>", "unk_token": "<unk>"},
    "phi": {"bos_token": "<s>", "eos_token": "<|endoftext|>", "unk_token": "<unk>"},
    "deepseek": {"bos_token": "<｜begin▁of▁sentence｜>", "eos_token": "<｜end▁of▁sentence｜>"},
    "chatml": {"bos_token": "<|im_start|>", "eos_token": "<|im_end|>"},
}

CORPUS = {
    "llama-3.1.jinja": "llama", "llama-3.2.jinja": "llama", "qwen-2.5.jinja": "qwen", "qwen-3.jinja": "qwen",
    "mistral-nemo.jinja": "mistral", "mistral-small-3.2.jinja": "mistral", "gemma-2.jinja": "gemma",
    "gemma-3n.jinja": "gemma", "phi-3.5.jinja": "phi", "phi-4.jinja": "phi", "smollm2.jinja": "chatml",
    "deepseek-r1.jinja": "deepseek", "deepseek-v3.1.jinja": "deepseek", "chatml.jinja": "chatml",
    "features.jinja": "llama",
}

WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather in a city, in °C.",
    "parameters": {"type": "object", "properties": {
        "city": {"type": "string", "description": "City name, e.g. Zürich"},
        "days": {"type": "integer", "minimum": 1, "maximum": 7, "default": 1}},
        "required": ["city"]}}}

CONVERSATIONS = {
    "system-user": dict(messages=[
        {"role": "system", "content": "You are a terse assistant."},
        {"role": "user", "content": "What is KV-cache compression?"}]),
    "user-only": dict(messages=[{"role": "user", "content": "Hello!"}]),
    "multi-turn": dict(messages=[
        {"role": "user", "content": "Name a prime."},
        {"role": "assistant", "content": "7"},
        {"role": "user", "content": "  And another one?  \n"}]),
    "multi-turn-no-generation-prompt": dict(add_generation_prompt=False, messages=[
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello."}]),
    "hostile-content": dict(messages=[
        {"role": "system", "content": "{{ raise_exception('x') }}"},
        {"role": "user", "content": "{{ 7*7 }} {% include 'file:/etc/passwd' %} {# c #} {%- set x = 1 -%} }} %}"},
        {"role": "assistant", "content": "{% for i in range(1000) %}{% for j in range(1000) %}x{% endfor %}{% endfor %}"},
        {"role": "user", "content": "naïve café — 你好 🚀 \u2028 \"quotes\" 'single' \\backslash\t<tags>&amp;"}]),
    "reasoning": dict(messages=[
        {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": "<think>\nadd them\n</think>\n\n4"},
        {"role": "user", "content": "times 3?"}]),
    "tools": dict(tools=[WEATHER_TOOL], messages=[
        {"role": "system", "content": "You can call tools."},
        {"role": "user", "content": "Weather in Zürich?"},
        {"role": "assistant", "content": "", "tool_calls": [{"id": "call0001a", "type": "function", "function": {
            "name": "get_weather", "arguments": {"city": "Zürich", "days": 2}}}]},
        {"role": "tool", "tool_call_id": "call0001a", "name": "get_weather",
         "content": "{\"temp_c\": 21.5, \"sky\": \"clear\"}"},
        {"role": "user", "content": "Thanks"}]),
    "documents": dict(documents=[{"title": "Notes", "text": "KV caches grow with context."}], messages=[
        {"role": "user", "content": "Summarise the notes."}]),
}


def render(compile_fn, source, context):
    try:
        return {"expected": compile_fn(source).render(**context)}
    except jinja2.exceptions.TemplateError as e:
        kind = "RAISED" if type(e) is jinja2.exceptions.TemplateError else type(e).__name__
        return {"error": kind, "message": str(e) if kind == "RAISED" else None}
    except Exception as e:  # a template bug jinja2 surfaces as a Python error (KeyError, TypeError, ...)
        return {"error": type(e).__name__, "message": None}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--transformers", action="store_true", help="compile with transformers itself")
    parser.add_argument("--check", action="store_true", help="compare with the stored fixtures instead of writing")
    args = parser.parse_args()
    compile_fn = compile_with_transformers if args.transformers else compile_like_transformers
    cases = []
    for name, family in CORPUS.items():
        source = (TEMPLATES / name).read_text(encoding="utf-8")
        for conversation, spec in CONVERSATIONS.items():
            context = {"messages": spec["messages"], "tools": spec.get("tools"),
                       "documents": spec.get("documents"),
                       "add_generation_prompt": spec.get("add_generation_prompt", True),
                       **SPECIAL_TOKENS[family]}
            cases.append({"template": name, "conversation": conversation, "context": context,
                          **render(compile_fn, source, context)})
    out = TEMPLATES / "fixtures.json"
    text = json.dumps({"jinja2": jinja2.__version__, "pinned_now": PINNED_NOW.isoformat(), "cases": cases},
                      ensure_ascii=False, indent=1) + "\n"
    if args.check:
        stored = json.loads(out.read_text(encoding="utf-8"))["cases"]
        bad = [(a["template"], a["conversation"]) for a, b in zip(cases, stored)
               if a.get("expected") != b.get("expected") or a.get("error") != b.get("error")]
        print(f"{len(cases) - len(bad)}/{len(cases)} cases equal", *bad, sep="\n")
        sys.exit(1 if bad or len(cases) != len(stored) else 0)
    out.write_text(text, encoding="utf-8")
    print(f"wrote {len(cases)} cases to {out.relative_to(ROOT)}",
          f"({sum('error' in c for c in cases)} render errors)")


if __name__ == "__main__":
    main()
