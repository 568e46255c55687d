"""Input readers shared by the modalities: text lines, FASTA records and images."""
