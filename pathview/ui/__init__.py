"""The Qt skin: widgets, item models, delegates, actions and preferences."""
