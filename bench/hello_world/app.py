"""The smallest useful FastAPI-on-Lambda: one health route behind Mangum, nothing else.

``bench/app_bench.py`` runs the real app and this side by side, so its ratios say what the
app's own code (routers, settings, Powertools, argon2, ...) costs on top of the framework.
"""

from __future__ import annotations

from fastapi import FastAPI
from mangum import Mangum
from pydantic import BaseModel


class Health(BaseModel):
    status: str


app = FastAPI()


@app.get("/api/health", response_model=Health)
def health() -> Health:
    return Health(status="ok")


handler = Mangum(app, lifespan="off")
