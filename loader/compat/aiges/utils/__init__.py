"""The SDK's aiges.utils package; of it, wrappers import only aiges.utils.log."""
