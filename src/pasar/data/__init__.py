"""Dataset formats and conversions (Hugging Face / TRL formats, JSONL and Parquet)."""
