"""The APIs the router serves: chat completions, Responses, Messages, and their sync forms."""
