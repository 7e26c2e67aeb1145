"""The HTTP front end: Handle.Net REST API, the enterprise API, resolver pages and /openapi.json (aiohttp)."""
