"""Running a priced plan: the engine, its journal, verified downloads, and completion webhooks."""
