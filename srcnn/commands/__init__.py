"""The console commands' argument parsing and their one-line reports."""
