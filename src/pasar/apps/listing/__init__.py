"""Catalog localization: rewrite titles for search, translate them, and stop bad output with
quality gates. ``catalog`` reads and writes catalogs, ``gates`` checks a translation, ``glossary``
protects terms, ``memory`` reuses translations, ``localize`` runs the steps on a batch of items.
Run it with ``pasar listing localize`` / ``pasar listing check`` (docs/listing.md)."""
