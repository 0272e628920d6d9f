"""Domain code shared by the Serve application and the offline jobs."""

__version__ = "0.1.0"
SERVICE_NAME = "matching-service"
