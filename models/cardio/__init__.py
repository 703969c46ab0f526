"""Cardiovascular models: circulation, cardiac cells, tissue set-ups."""
