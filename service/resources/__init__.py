"""Machine resources: cores, memory and its budget, CUDA presence, thread priority. Leaves:
they import nothing from the service."""
