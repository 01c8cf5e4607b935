"""Training from feedback: losses (pure tensor functions), trainers (SFT and baselines via TRL,
BNF), reference log-probs."""
