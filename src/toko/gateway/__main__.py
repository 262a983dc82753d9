"""``python -m toko.gateway``: serve the HTTP gateway."""

from toko.gateway.server import serve

if __name__ == "__main__":
    serve()
