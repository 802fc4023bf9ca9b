"""Charging piles on the server: orders and bills, settlement acknowledgements, tariffs, live port map, pages."""
