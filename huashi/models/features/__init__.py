"""In-domain feature networks that huashi trains itself: a small CLIP and a classifier."""
