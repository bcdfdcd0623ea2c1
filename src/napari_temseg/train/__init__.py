"""Training loops: YOLO through ultralytics (more models as they land)."""
