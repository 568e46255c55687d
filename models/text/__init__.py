"""Text codec: byte-level BPE, a BERT-style encoder and a latent-conditioned GPT-2 decoder."""
