"""The parts of bench/run.py. Each module has run(ctx) -> (figures, raw):
the rows of the results table and every sample behind them."""
