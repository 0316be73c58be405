"""The read store's one MetaData: every read model's module adds its tables to it."""

from __future__ import annotations

from sqlalchemy import MetaData

metadata = MetaData()
