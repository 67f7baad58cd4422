"""Generated reviews whose label is one sentiment word among filler, in the vocabulary of tests/checkpoints.py."""

POSITIVE = ["good", "great", "nice", "love", "perfect", "fine"]
NEGATIVE = ["bad", "awful", "poor", "hate", "terrible", "broken"]
FILLER = ["the", "dress", "shirt", "fabric", "color", "fit", "size", "very", "really", "and", "it", "was"]


def review(rng, positive: bool, filler_words: tuple = (3, 9)) -> str:
    """A few filler words with one positive or negative word at a random place."""
    words = list(rng.choice(FILLER, size=rng.integers(*filler_words)))
    words.insert(int(rng.integers(len(words) + 1)), rng.choice(POSITIVE if positive else NEGATIVE))
    return " ".join(words)
