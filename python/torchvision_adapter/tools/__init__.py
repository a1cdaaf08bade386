"""Offline-inference tools: preprocessing a folder of images to tensors, post-processing model
outputs to COCO results and drawings, evaluation, and small models for trying them out."""
