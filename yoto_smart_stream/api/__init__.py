"""The web API: FastAPI app, Lambda handler, routers, dashboard."""
