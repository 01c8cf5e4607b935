"""The commerce domain: typed orders, users and products (``schemas``) and the retail rules
that change them (``orders``), used by the Taskbot, the disputes app and the server alike. The
store only keeps the rows (``pasar.store.commerce`` reads and writes the retail documents)."""
