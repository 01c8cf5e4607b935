"""Product images: an Ovis-style vision-language model (``model``), the product photos in
``../shared/data/images`` (``data``), its staged training (``train``), image loading
(``images``), OCR of text in images (``image_text``) and the engine that serves a trained
model with image inputs (``serving``)."""
