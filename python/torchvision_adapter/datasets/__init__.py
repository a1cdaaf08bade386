"""Dataset loading that follows the image backend (``torchvision.set_image_backend``)."""
from .folder import cv2_loader, default_loader, native_loader

__all__ = ["cv2_loader", "default_loader", "native_loader"]
