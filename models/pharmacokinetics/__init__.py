"""Pharmacokinetic and pharmacodynamic models."""
