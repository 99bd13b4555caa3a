"""The console commands' argument parsing and their one-line reports; the paper's studies (paper_studies.py)."""
