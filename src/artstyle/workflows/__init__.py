"""What one command does end to end, for any task: train, evaluate, compare, the demo."""
