"""Language models: any OpenAI-compatible endpoint, the fallback chain, the offline policy."""
