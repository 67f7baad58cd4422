"""From raw frames to tensors: column and problem type inference, one processor per modality."""
