"""Figures and tables made from probe results and captures."""
