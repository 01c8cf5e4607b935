"""Product images: an Ovis-style vision-language model (``model``), the product photos in
``../shared/data/images`` (``data``), its staged training (``train``), image loading
(``images``) and OCR of text in images (``image_text``)."""
