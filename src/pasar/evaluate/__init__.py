"""Judging answers and comparing models: verifiers, judges, win rates with intervals."""
