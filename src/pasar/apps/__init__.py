"""Product capabilities built on models, data and the store: one package each."""
