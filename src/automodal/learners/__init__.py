"""Problem families, one package each behind one contract (contract.FamilyLearner): tabular (numbers, categories,
text and images in table rows: binary, multiclass, regression), detection (boxes in images) and segmentation (masks
in images). image_tasks holds what the two image-task families share; registry says which family answers a
problem_type."""
