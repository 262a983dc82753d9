"""toko: a marketplace e-commerce platform as event-driven Python gRPC microservices."""
