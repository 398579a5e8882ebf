"""Pictures people look at: keypoints and bodies drawn over video frames (OpenCV, no GUI)."""
