"""The Nginx Proxy Manager wrapper: client (HTTP), mapping both ways, the publisher and the import."""
