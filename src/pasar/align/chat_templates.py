"""Chat templates that mark the assistant's tokens, so SFT learns only the assistant's turns.

TRL's ``assistant_only_loss`` needs a template with ``{% generation %}`` markers and patches the
templates it knows (Qwen, Llama 3, Gemma, ...), not SmolLM2's ChatML. Training a multi-turn agent
on every token would spend most of the loss on the tool list, tool results and user turns, which
the model never writes; this adds the marked form of SmolLM2's template. The marked template
renders the same text as the original; only the trainer sees it (the saved model keeps its own,
which llama.cpp can read).
"""

from __future__ import annotations

from typing import Any

from trl.chat_template_utils import get_training_chat_template, has_generation_markers

SMOLLM2_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
    "Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + "
    "message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\n' }}{% endif %}"
)
SMOLLM2_TRAINING_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
    "Face<|im_end|>\n' }}{% endif %}{% if message['role'] == 'assistant' %}"
    "{{ '<|im_start|>assistant\n' }}{% generation %}{{ message['content'] + '<|im_end|>' }}"
    "{% endgeneration %}{{ '\n' }}{% else %}{{'<|im_start|>' + message['role'] + '\n' + "
    "message['content'] + '<|im_end|>' + '\n'}}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def training_chat_template(tokenizer: Any) -> str | None:
    """The tokenizer's template with ``{% generation %}`` markers, or None when none is known
    (then SFT falls back to a loss on every token)."""
    template = tokenizer.chat_template
    if not template:
        return None
    if has_generation_markers(template):
        return str(template)
    if template == SMOLLM2_TEMPLATE:
        return SMOLLM2_TRAINING_TEMPLATE
    try:
        return get_training_chat_template(tokenizer)
    except ValueError:
        return None
