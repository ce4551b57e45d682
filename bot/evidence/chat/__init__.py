"""GitHub evidence in the release room: `/release verify`, the Delete release branch button."""
