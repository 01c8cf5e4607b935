"""pasar: multilingual, multimodal e-commerce AI for Southeast Asia.

Serve models and apps, record every answer with the user's feedback, learn from it.
"""

__version__ = "0.1.0"
