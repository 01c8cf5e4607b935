"""``pasar serve``: the FastAPI app. It routes; models, apps and the store do the work."""
