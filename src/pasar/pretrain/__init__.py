"""Pretraining for Southeast Asian languages: the raw-text pipeline and the regional tokenizer.

``clean``: normalisation and quality rules (pure functions); ``dedup``: exact and MinHash
near-duplicate removal; ``data``: corpus files -> cleaned, language-checked, deduplicated,
split per language, with a report of what each step removed; ``tokenizer``: a byte-level BPE for
the region and tokens per character against any other tokenizer.
"""
