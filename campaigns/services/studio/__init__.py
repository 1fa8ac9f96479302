"""Reads for the marketer UI (the studio): what its pages show, computed in a few queries.

Views stay thin: they parse the request, call one of these, and render. Writes go
through the ordinary services (launch, review, imports).
"""
