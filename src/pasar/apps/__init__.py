"""Product capabilities built on models, data and the store: one subpackage per app (taskbot,
listing, disputes, vision). Apps never import each other."""
