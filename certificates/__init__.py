"""TLS certificates: issued by ACME (HTTP-01, DNS-01) or uploaded, stored with their keys sealed, renewed."""
