"""Inputs and outputs: sources, decoders, atomic writers, video."""
