"""dprobe: probes of pose/appearance disentanglement in self-supervised 3D human pose networks.

Layers (every import points down; docs/conventions.md holds the conventions):

- leaves, usable by everything: ``geometry``, ``errors``, ``files``, ``seeding``, ``joints``
  (the 17-joint order), ``ops`` (the fused C++ op), ``metrics``;
- ``data`` (the studio, its build, Human3.6M, datasets) -> ``models`` (the protocol, the
  reference network, checkpoints) -> ``frameworks`` (training objectives) -> ``train``;
- above ``models``: ``probes`` (held-out evaluation, swap, zero appearance, channels, embedding,
  the attack), ``export`` and ``engines`` (deployment), ``sweep`` (specs, results store,
  backends), ``report`` (figures, tables, HTML), which nothing imports but the CLI;
- ``sources`` (where a model comes from: a shipped name, a checkpoint or export folder, the
  user's code) sits on ``models`` and ``export``; ``sweep`` and the CLI load models through it;
- ``cli`` on top: one module per command group.
"""

__version__ = "0.1.0"
