"""SE(3) frame diffusion (FrameDiff-style, exact IGSO3) and AF3-style EDM coordinate diffusion.

Noise processes (r3.py, se3.py, edm.py) are separate from the networks (denoiser.py,
edm_network.py); samplers are pure functions compiled as one lax.scan (sampler.py, edm.py);
losses are pure functions (losses.py). Angstrom at every public boundary.
"""
