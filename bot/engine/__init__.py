"""One index and everything that answers from it, built together and replaced together on a reload."""
