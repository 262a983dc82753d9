"""The sandbox process: stand-ins for the third parties toko cannot reach, speaking their real protocols.

Each stand-in is a subpackage (``mail``, ``couriers``; payment providers and an SMS gateway later)
that brings its own servers and the HTTP routes people and tests read it through; ``app`` runs
them all in one process. No service imports the sandbox: services reach it over the network only.
"""
