/// The built-in provider registry, as data (JSON). Users add or override entries with
/// `[[decode.providers]]` in config.toml (same fields). Fields:
/// - `name`: provider name written to events (`provider.name`).
/// - `hosts`: exact host names; `host_suffixes`: domain suffixes (e.g. ".openai.azure.com").
/// - `local_ports`: ports that identify the provider on localhost / 127.0.0.1 / ::1.
/// - `path_prefixes` (optional): only these paths count.
let builtinProvidersJSON = #"""
[
  {"name": "openai",      "hosts": ["api.openai.com"]},
  {"name": "azure_openai","host_suffixes": [".openai.azure.com", ".cognitiveservices.azure.com", ".services.ai.azure.com"]},
  {"name": "anthropic",   "hosts": ["api.anthropic.com"]},
  {"name": "google",      "hosts": ["generativelanguage.googleapis.com"]},
  {"name": "vertex_ai",   "hosts": ["aiplatform.googleapis.com"], "host_suffixes": ["-aiplatform.googleapis.com"]},
  {"name": "aws_bedrock", "host_suffixes": [".amazonaws.com"], "path_prefixes": ["/model/"], "host_contains": ["bedrock-runtime"]},
  {"name": "mistral",     "hosts": ["api.mistral.ai", "codestral.mistral.ai"]},
  {"name": "cohere",      "hosts": ["api.cohere.com", "api.cohere.ai"]},
  {"name": "groq",        "hosts": ["api.groq.com"]},
  {"name": "together",    "hosts": ["api.together.xyz", "api.together.ai"]},
  {"name": "fireworks",   "hosts": ["api.fireworks.ai"]},
  {"name": "deepseek",    "hosts": ["api.deepseek.com"]},
  {"name": "xai",         "hosts": ["api.x.ai"]},
  {"name": "perplexity",  "hosts": ["api.perplexity.ai"]},
  {"name": "openrouter",  "hosts": ["openrouter.ai"]},
  {"name": "ollama",      "local_ports": [11434], "hosts": ["ollama"]},
  {"name": "vllm",        "local_ports": [8000]},
  {"name": "lmstudio",    "local_ports": [1234]},
  {"name": "llamacpp",    "local_ports": [8080]}
]
"""#
