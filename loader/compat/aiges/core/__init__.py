"""The SDK's aiges.core package; of it, wrappers import only aiges.core.types."""
