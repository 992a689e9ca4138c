"""Business rules of the transplant app."""
