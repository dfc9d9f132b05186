"""Providers: every model call goes through LiteLLM; the embedded model is one of its
custom providers."""
