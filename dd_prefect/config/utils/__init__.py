"""Small enums and helpers, at the paths Data Designer has them (``data_designer.config.utils``)."""
