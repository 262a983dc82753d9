"""Echo: a trivial gRPC service that measures the gateway and gRPC stack alone."""
