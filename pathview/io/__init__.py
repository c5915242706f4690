"""Reading patch folders, image files and label tables. Pure Python, no Qt."""
