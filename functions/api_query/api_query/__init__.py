"""ApiQuery: the GET routes of the quotes API (latest quote, quotes of a sector, sector summary, health)."""
