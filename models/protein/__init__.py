"""The protein modality: alphabet rules, record reading and the transformer/conv codec."""
