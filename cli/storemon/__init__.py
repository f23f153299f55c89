"""storemon: store uptime and downtime during business hours, computed with dbt on DuckDB."""

from importlib.metadata import version

__version__ = version("storemon")
