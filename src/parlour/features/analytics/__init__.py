"""Product analytics: optional, aggregate page-view counts, kept only through the gate."""
