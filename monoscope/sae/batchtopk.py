"""BatchTopK SAE (Bussmann et al. 2024): keep the batch's k·B largest activations, so L0 varies per token.

At inference a per-batch choice is not available, so the SAE runs as a
JumpReLU with one threshold θ and is saved as one, as SAELens does. During
training θ is a running mean of the smallest kept activation; at the end it is
recalibrated on a sample with the final weights, so that inference keeps k
latents per token on average. (The running mean lags weights that are still
changing and still carries its first batches: on the demo store it gave L0
11 instead of 16.)
"""

from __future__ import annotations

import torch

from monoscope.sae.base import SAE, SAEConfig, SAELoss, register
from monoscope.sae.kernels import Ragged, batch_topk_encode, ragged_decode


@register("batchtopk")
class BatchTopKSAE(SAE):
    needs_k = True
    saelens_name = "jumprelu"  # saved as the JumpReLU it is at inference ...
    loads_as = "jumprelu"  # ... and read back as one
    threshold_momentum = 0.01

    def __init__(self, cfg: SAEConfig):
        super().__init__(cfg)
        self.register_buffer("threshold", torch.tensor(-1.0))  # < 0: not estimated yet

    def _batch_topk(self, pre: torch.Tensor) -> torch.Tensor:
        flat = pre.relu().reshape(-1)
        n = min(int(self.cfg.k) * pre.shape[0], flat.numel())
        v, i = flat.topk(n, sorted=False)
        return torch.zeros_like(flat).scatter(0, i, v).reshape(pre.shape)

    def activation(self, pre: torch.Tensor) -> torch.Tensor:
        """Dense activations, for encode() outside the training step (which runs on the ragged kernels)."""
        if self.training or self.threshold < 0:
            return self._batch_topk(pre.reshape(-1, self.d_sae)).reshape(pre.shape)
        return pre * (pre > self.threshold)

    def encode_subset(self, x: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
        if self.training or self.threshold < 0:
            return super().encode_subset(x, feats)  # batch top-k couples every latent of the batch
        pre = self.pre_subset(x, feats)
        return pre * (pre > self.threshold)

    def reconstruction_loss(self, f: Ragged, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, dict]:
        """(loss, MSE, x_hat, extra logs) from the kept activations; Matryoshka adds the losses of the dictionary's
        prefixes."""
        x_hat = ragged_decode(f, self.W_dec) + self.b_dec
        mse = self.mse(x_hat, y)
        return mse, mse, x_hat, {}

    def loss(self, x, sparsity_coef: float = 0.0, dead_mask=None, aux_coef: float = 0.0, target=None) -> SAELoss:
        y = x if target is None else target
        f = batch_topk_encode(x, self.W_enc, self.b_enc, self.b_in, int(self.cfg.k) * len(x))
        rec, mse, x_hat, logs = self.reconstruction_loss(f, y)
        aux = self.auxk_loss(x, (y - x_hat).detach(), dead_mask, aux_coef)
        with torch.no_grad():
            pos = f.vals[f.vals > 0]
            if pos.numel():
                m = pos.min()
                t = self.threshold
                self.threshold.copy_(m if t < 0 else (1 - self.threshold_momentum) * t + self.threshold_momentum * m)
            counts = f.counts()
        l0 = counts.sum().float() / len(x)
        return SAELoss(rec + aux, mse.detach(), l0, x_hat.detach(), counts=counts, logs={"aux_k": aux.detach(), **logs})

    @torch.no_grad()
    def calibrate(self, x: torch.Tensor, chunk: int = 4096) -> dict[str, float]:
        """Set θ so that on `x` the JumpReLU keeps k·len(x) activations, as batch top-k did in training."""
        k, n = int(self.cfg.k), len(x)
        kept = []
        for part in x.split(chunk):  # each chunk keeps 4× its share: enough unless one chunk holds far more
            flat = self.encode_pre(part).relu_().reshape(-1)
            kept.append(flat.topk(min(4 * k * len(part) + 1, flat.numel()), sorted=False).values)
        v = torch.cat(kept).topk(min(k * n + 1, sum(len(t) for t in kept))).values
        theta = float(v[-2:].mean()) if len(v) > k * n else 0.0  # midway: last kept, next
        self.threshold.fill_(max(theta, 0.0))
        return {"calibrated_threshold": theta}

    def export(self) -> tuple[str, dict[str, torch.Tensor]]:
        th = self.threshold.clamp_min(0.0) * torch.ones(self.d_sae, device=self.W_enc.device)
        return self.saved_name(), {
            "W_enc": self.W_enc,
            "b_enc": self.b_enc,
            "W_dec": self.W_dec,
            "b_dec": self.b_dec,
            "threshold": th,
        }
