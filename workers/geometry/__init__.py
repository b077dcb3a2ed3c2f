"""Camera geometry: 3D -> 2D projection fitting (`skelforge calibrate`)."""
