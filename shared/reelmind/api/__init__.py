"""The HTTP API: FastAPI, served by uvicorn locally and through mangum on Lambda."""
