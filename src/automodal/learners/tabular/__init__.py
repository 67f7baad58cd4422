"""The table family: binary, multiclass and regression on rows of numbers, categories, free text and image paths."""
