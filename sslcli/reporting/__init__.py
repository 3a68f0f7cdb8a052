"""What a run shows: progress bars and the pictures written into the run directory."""
