"""The Qt skin: widgets, item models, delegates, controllers, actions and preferences."""

import os

# superqt reaches Qt through qtpy, which would pick PyQt5/6 first if one is installed: the app
# is built on PySide6, and two Qt bindings in one process do not mix.
os.environ["QT_API"] = "pyside6"
