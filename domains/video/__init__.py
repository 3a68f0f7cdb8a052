"""Video: mp4, webm, mkv, avi and mov files read by time with PyAV, as clips of frames."""
