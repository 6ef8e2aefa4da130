"""dprobe: probes of pose/appearance disentanglement in self-supervised 3D human pose networks."""

__version__ = "0.1.0"
