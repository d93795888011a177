#!/usr/bin/env python3
"""Regenerates BuiltinPrices.swift: the built-in price table for cost per call.

Source: LiteLLM's model price list (model_prices_and_context_window_backup.json), MIT licence,
read from the `litellm` wheel of the given version (fetched with `pip download`, from whatever
index pip is configured with). Kept: chat/completion/responses models of the providers the
decoder knows (Sources/OISPDecode/ProviderRegistry+Builtin.swift), with their input, output,
cache-read, cache-write and reasoning prices per 1M tokens and any `above_<N>k_tokens` tier.

    Sources/OISPGenAI/regenerate-prices.py [litellm-version] [--wheel path.whl] [--date YYYY-MM-DD]
"""
import datetime
import glob
import json
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from decimal import Decimal

VERSION = "1.110.2"
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "BuiltinPrices.swift")
MODES = {"chat", "completion", "responses"}

# LiteLLM provider → (the decoder's provider name, key prefixes to strip, keep keys with a further '/')
PROVIDERS = {
    "openai": ("openai", ["openai/"], False),
    "text-completion-openai": ("openai", ["openai/"], False),
    "azure": ("azure_openai", ["azure/"], False),
    "anthropic": ("anthropic", ["anthropic/"], False),
    "gemini": ("google", ["gemini/"], False),
    "vertex_ai-language-models": ("vertex_ai", ["vertex_ai/"], False),
    "vertex_ai-anthropic_models": ("vertex_ai", ["vertex_ai/"], False),
    "bedrock": ("aws_bedrock", ["bedrock/"], False),
    "bedrock_converse": ("aws_bedrock", ["bedrock/converse/", "bedrock/"], False),
    "mistral": ("mistral", ["mistral/"], False),
    "cohere_chat": ("cohere", ["cohere_chat/", "cohere/"], False),
    "groq": ("groq", ["groq/"], True),
    "together_ai": ("together", ["together_ai/"], True),
    "fireworks_ai": ("fireworks", ["fireworks_ai/"], True),
    "deepseek": ("deepseek", ["deepseek/"], False),
    "xai": ("xai", ["xai/"], False),
    "perplexity": ("perplexity", ["perplexity/"], False),
}
BASE = {"input": "input_cost_per_token", "output": "output_cost_per_token",
        "cache_read": "cache_read_input_token_cost", "cache_write": "cache_creation_input_token_cost",
        "reasoning": "output_cost_per_reasoning_token"}
TIER = re.compile(r"^(input_cost_per_token|output_cost_per_token|cache_read_input_token_cost|cache_creation_input_token_cost)_above_(\d+)k_tokens$")


def per_million(x):
    d = (Decimal(repr(float(x))) * 1_000_000).normalize()
    return int(d) if d == d.to_integral_value() else float(d)


def wheel_json(version, wheel):
    if wheel is None:
        tmp = tempfile.mkdtemp(prefix="litellm-")
        subprocess.run([sys.executable, "-m", "pip", "download", f"litellm=={version}", "--no-deps", "-q", "-d", tmp], check=True)
        wheel = glob.glob(os.path.join(tmp, "litellm-*.whl"))[0]
    with zipfile.ZipFile(wheel) as z:
        return json.loads(z.read("litellm/model_prices_and_context_window_backup.json"))


def main():
    args = sys.argv[1:]
    version, wheel, date = VERSION, None, datetime.date.today().isoformat()
    while args:
        a = args.pop(0)
        if a == "--wheel": wheel = args.pop(0)
        elif a == "--date": date = args.pop(0)
        else: version = a
    src = wheel_json(version, wheel)
    table, origin = {}, {}
    for key in sorted(src):
        v = src[key]
        if not isinstance(v, dict) or v.get("mode") not in MODES or v.get("litellm_provider") not in PROVIDERS:
            continue
        provider, prefixes, slash_ok = PROVIDERS[v["litellm_provider"]]
        model, stripped = key, False
        for p in prefixes:
            if model.startswith(p): model, stripped = model[len(p):], True; break
        if "/" in model and not slash_ok:
            continue  # region- or deployment-specific keys (azure/eu/…, bedrock/us-east-1/…)
        if BASE["input"] not in v or BASE["output"] not in v:
            continue
        e = {k: per_million(v[f]) for k, f in BASE.items() if v.get(f) is not None}
        tiers = {}
        for f, x in v.items():
            m = TIER.match(f)
            if m and x is not None:
                name = {v2: k2 for k2, v2 in BASE.items()}[m.group(1)]
                tiers.setdefault(int(m.group(2)) * 1000, {})[name] = per_million(x)
        if tiers:
            e["tiers"] = [dict(above=n, **tiers[n]) for n in sorted(tiers)]
        k = (provider, model)
        # an unprefixed key wins over a prefixed duplicate (deepseek-chat / deepseek/deepseek-chat)
        if k in table and (stripped or not origin[k][1]):
            continue
        table[k], origin[k] = e, (key, stripped)
    providers = {}
    for (p, m) in sorted(table):
        providers.setdefault(p, {})[m] = table[(p, m)]
    doc = {"source": "LiteLLM model_prices_and_context_window_backup.json", "source_version": f"litellm {version}",
           "licence": "MIT (LiteLLM)", "date": date, "currency": "USD", "unit": "per 1M tokens"}
    lines = ["{", *[f'  {json.dumps(k)}: {json.dumps(doc[k])},' for k in doc], '  "prices": {']
    plist = list(providers)
    for i, p in enumerate(plist):
        lines.append(f"    {json.dumps(p)}: {{")
        ms = list(providers[p])
        for j, m in enumerate(ms):
            lines.append(f"      {json.dumps(m)}: {json.dumps(providers[p][m], separators=(',', ':'))}{',' if j < len(ms) - 1 else ''}")
        lines.append("    }" + ("," if i < len(plist) - 1 else ""))
    lines += ["  }", "}"]
    body = "\n".join(lines)
    json.loads(body)  # well-formed
    with open(OUT, "w") as f:
        f.write("// GENERATED by Sources/OISPGenAI/regenerate-prices.py — do not edit by hand.\n")
        f.write(f"// Source: LiteLLM model_prices_and_context_window_backup.json from the litellm {version} wheel\n")
        f.write(f"// (MIT licence, Copyright (c) 2023 Berri AI); generated {date}. Prices in USD per 1M tokens.\n")
        f.write(f"// {len(table)} models of {len(providers)} providers (chat, completion and responses modes only).\n")
        f.write("let builtinPricesJSON = #\"\"\"\n" + body + "\n\"\"\"#\n")
    print(f"{OUT}: {len(table)} models, {', '.join(f'{p} {len(providers[p])}' for p in providers)}")


if __name__ == "__main__":
    main()
