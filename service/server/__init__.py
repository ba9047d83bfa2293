"""Process plumbing: the worker processes, their connection balance, the HTTP protocol with
its timers, and signals during start-up. Knows nothing of models or routes."""
