"""User preferences in QSettings (INI format). Never pickled; tests point it at a tmp dir.

With ``PATHVIEW_CONFIG_DIR`` set (tests, portable installs) the INI file lives there;
otherwise Qt's per-user location is used.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

ORGANISATION = "pathview"
APPLICATION = "pathview"
MAX_RECENT = 8
#: Folders whose work state (:class:`pathview.triage.resume.FolderResume`) is remembered.
MAX_RESUMED = 200


def make_settings() -> QSettings:
    config_dir = os.environ.get("PATHVIEW_CONFIG_DIR")
    if config_dir:
        Path(config_dir).mkdir(parents=True, exist_ok=True)
        QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, config_dir)
    return QSettings(
        QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANISATION, APPLICATION
    )


class Preferences:
    """Typed access to the few values pathview remembers."""

    def __init__(self, settings: QSettings | None = None) -> None:
        self._s = settings if settings is not None else make_settings()

    def sync(self) -> None:
        self._s.sync()

    def _get_str(self, key: str, default: str = "") -> str:
        value = self._s.value(key, default)
        return default if value is None else str(value)

    def _get_bool(self, key: str, default: bool) -> bool:
        value = self._s.value(key, default)
        if isinstance(value, str):
            return value.lower() in ("1", "true", "yes")
        return bool(value)

    @property
    def reviewer(self) -> str:
        return self._get_str("review/reviewer")

    @reviewer.setter
    def reviewer(self, name: str) -> None:
        self._s.setValue("review/reviewer", name)

    @property
    def last_folder(self) -> str:
        return self._get_str("folders/last")

    @property
    def recent_folders(self) -> list[str]:
        value = self._s.value("folders/recent", [])
        if isinstance(value, str):
            return [value] if value else []
        if isinstance(value, (list, tuple)):
            return [str(v) for v in value]
        return []

    def remember_folder(self, folder: Path) -> None:
        text = str(folder)
        recent = [f for f in self.recent_folders if f != text]
        self._s.setValue("folders/recent", [text, *recent][:MAX_RECENT])
        self._s.setValue("folders/last", text)

    @property
    def overlay_opacity(self) -> float:
        try:
            value = float(str(self._s.value("view/overlay_opacity", 0.5)))
        except (TypeError, ValueError):
            value = 0.5
        return min(1.0, max(0.0, value))

    @overlay_opacity.setter
    def overlay_opacity(self, value: float) -> None:
        self._s.setValue("view/overlay_opacity", float(value))

    @property
    def tile_size(self) -> int:
        """The grid's thumbnail size in px (96: drawn 1:1)."""
        try:
            return int(str(self._s.value("view/tile_size", 96)))
        except (TypeError, ValueError):
            return 96

    @tile_size.setter
    def tile_size(self, value: int) -> None:
        self._s.setValue("view/tile_size", int(value))

    def flag(self, key: str, default: bool) -> bool:
        return self._get_bool(f"view/{key}", default)

    def set_flag(self, key: str, value: bool) -> None:
        self._s.setValue(f"view/{key}", bool(value))

    def layout(self, key: str) -> QByteArray | None:
        value = self._s.value(f"layout/{key}")
        return value if isinstance(value, QByteArray) else None

    def set_layout(self, key: str, value: QByteArray) -> None:
        self._s.setValue(f"layout/{key}", value)

    def folder_state(self, key: str) -> str:
        """The remembered work state (JSON) of the folder with ``key``, "" for none."""
        return self._get_str(f"resume/{key}")

    def set_folder_state(self, key: str, text: str) -> None:
        """Remember a folder's work state; the oldest beyond ``MAX_RESUMED`` are forgotten."""
        order = self._s.value("resume_order", [])
        if isinstance(order, str):
            keys = [order]
        elif isinstance(order, (list, tuple)):
            keys = [str(k) for k in order]
        else:
            keys = []
        keys = [key, *(k for k in keys if k and k != key)]
        for old in keys[MAX_RESUMED:]:
            self._s.remove(f"resume/{old}")
        self._s.setValue("resume_order", keys[:MAX_RESUMED])
        self._s.setValue(f"resume/{key}", text)
