"""HTTP: the routes and their pydantic bodies, middleware, the error contract, the OpenAPI
document, and the Open Inference Protocol (`v2/`). Turns requests into engine work."""
