"""Taskbot: customer-service tasks on the retail store, under policy.

An environment (store + tools + policy, ``environment.py``), two agents (an LLM tool-calling loop,
``llm_agent.py``, and hand-built YAML flows, ``flows.py``), scripted and simulated users
(``scenarios.py``, ``simulator.py``), a state-hash judge (``judge.py``), the evaluation
(``evaluation.py``) and SFT data from tasks (``sft.py``). ``docs/taskbot.md`` walks through it.
"""
