"""Django-side services: launching, the job store, live events, the engine's lifecycle."""
