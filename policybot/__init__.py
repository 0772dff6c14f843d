"""policybot: residents' health-policy questions answered from a curated YAML knowledge base.

Layers, each importing only those below it (import-linter checks, see docs/design.md):
`cli` and `bot` (Telegram) / `console`, `staff`, `quality` / `bootstrap` / `service` /
`replies`, `storage` / `knowledge` / `matching` / `model`, `config`, `exitcodes`.
"""
