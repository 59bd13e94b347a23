"""The business flow of an order, pure: which commands follow which events, in both modes."""
