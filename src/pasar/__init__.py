"""pasar: multilingual, multimodal e-commerce AI for Southeast Asia.

Serve models and apps, record every answer with the user's feedback, learn from it.
"""

import os

__version__ = "0.1.0"

# Nothing pasar runs may reach the Hugging Face Hub: weights and data are local (set these to
# 0 in the environment to allow it). TRL also sends telemetry unless told not to.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
