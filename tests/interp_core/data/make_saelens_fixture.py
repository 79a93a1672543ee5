"""Write SAELens 6.54.12 SAEs (standard, topk) plus their outputs on fixed inputs."""
import sys, torch
from pathlib import Path
from safetensors.torch import save_file
from sae_lens import StandardSAE, StandardSAEConfig, TopKSAE, TopKSAEConfig
out = Path(sys.argv[1])
torch.manual_seed(0)
x = torch.randn(5, 8)
for name, sae in (("standard", StandardSAE(StandardSAEConfig(d_in=8, d_sae=16))),
                  ("topk", TopKSAE(TopKSAEConfig(d_in=8, d_sae=16, k=3)))):
    with torch.no_grad():
        for p in sae.parameters():
            p.copy_(torch.randn_like(p) * 0.5)
    sae.cfg.metadata.hook_name = "blocks.1.hook_resid_pre"
    sae.save_model(out / f"saelens_{name}")
    with torch.no_grad():
        save_file({"x": x, "feature_acts": sae.encode(x), "sae_out": sae(x)},
                  str(out / f"saelens_{name}" / "expected.safetensors"))
