"""How trials run: the Backend protocol (``base``), the backends built on it (jobs, actors,
driver, local) and the seam to Spark (``spark``)."""
