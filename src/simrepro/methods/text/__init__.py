"""Text and documents: sentence centrality for summaries, table-structure similarity."""
