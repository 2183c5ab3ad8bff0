"""Streaming per-feature statistics with memory bounded by the dictionary size, never by the token count.

Each batch arrives as the sparse list of active (token, feature, value)
entries, so the cost scales with L0, not with d_sae × tokens:

- `GroupedReservoir`: the R best-keyed entries per group. With key = value it is
  a running top-k; with a random key per (feature, activation interval) it is a
  stratified uniform sample (sae_vis's quantile intervals, binned against the
  running maximum and re-binned as it grows).
- `DoublingHistogram`: an exact linear histogram per feature whose range doubles
  (merging bin pairs) when a larger value arrives.
- `NeuronCorrelation`: running sums for Pearson correlation of every feature with
  every input dimension ("neuron").
"""

from __future__ import annotations

from collections.abc import Callable

import torch


class GroupedReservoir:
    """Keeps, for each of `n_groups` groups, the `size` entries with the largest keys."""

    def __init__(self, n_groups: int, size: int, width: int):
        self.n_groups, self.size, self.width = n_groups, size, width
        self.feat = torch.zeros(0, dtype=torch.long)
        self.key = torch.zeros(0)
        self.val = torch.zeros(0)
        self.gidx = torch.zeros(0, dtype=torch.long)
        self.win = torch.zeros(0, width)

    def update(
        self,
        group_of: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        feat: torch.Tensor,
        key: torch.Tensor,
        val: torch.Tensor,
        gidx: torch.Tensor,
        windows: Callable[[torch.Tensor], torch.Tensor],
    ) -> None:
        """Merge new entries; `group_of(feat, val)` groups old and new alike; `windows(sel)` gives the new kept
        ones' windows.

        Only groups that can change are re-sorted: a new entry enters only if its group has room or it beats the
        group's worst key, so after the first batches almost every entry is rejected by one comparison.
        """
        G, R = self.n_groups, self.size
        old_group = group_of(self.feat, self.val)
        count = torch.bincount(old_group, minlength=G)
        worst = torch.full((G,), float("inf")).scatter_reduce_(0, old_group, self.key, "amin")
        new_group = group_of(feat, val)
        cand = ((count[new_group] < R) | (key > worst[new_group])).nonzero().flatten()
        touched = torch.zeros(G, dtype=torch.bool)
        touched[new_group[cand]] = True
        touched |= count > R
        if not touched.any():
            return
        old_t = touched[old_group]
        old_sel = old_t.nonzero().flatten()
        old_keep = (~old_t).nonzero().flatten()
        n_old = len(old_sel)
        all_key = torch.cat([self.key[old_sel], key[cand]])
        group = torch.cat([old_group[old_sel], new_group[cand]])
        order = torch.sort(all_key, descending=True, stable=True).indices
        order = order[torch.sort(group[order], stable=True).indices]
        g = group[order]
        counts = torch.bincount(g, minlength=G)
        starts = torch.cumsum(counts, 0) - counts
        rank = torch.arange(len(g)) - starts[g]
        keep = order[rank < R]
        old = torch.cat([old_keep, old_sel[keep[keep < n_old]]])
        new = cand[keep[keep >= n_old] - n_old]
        self.feat = torch.cat([self.feat[old], feat[new]])
        self.key = torch.cat([self.key[old], key[new]])
        self.val = torch.cat([self.val[old], val[new]])
        self.gidx = torch.cat([self.gidx[old], gidx[new]])
        self.win = torch.cat([self.win[old], windows(new)])

    def by_group(self, group: torch.Tensor) -> list[torch.Tensor]:
        """Entry indices per group, best key first."""
        order = torch.sort(self.key, descending=True, stable=True).indices
        order = order[torch.sort(group[order], stable=True).indices]
        counts = torch.bincount(group[order], minlength=self.n_groups).tolist()
        return list(torch.split(order, counts))


class DoublingHistogram:
    """Per-feature histograms over [0, range_i) with `bins` equal bins; range_i is a power of two that doubles as
    needed."""

    def __init__(self, d_sae: int, bins: int = 64):
        if bins & (bins - 1):
            raise ValueError("bins must be a power of two")
        self.bins = bins
        self.counts = torch.zeros(d_sae, bins, dtype=torch.long)
        self.range = torch.zeros(d_sae)

    def add(self, feat: torch.Tensor, val: torch.Tensor, batch_max: torch.Tensor) -> None:
        grow = (batch_max > 0) & (batch_max >= self.range)
        if grow.any():
            idx = grow.nonzero().flatten()
            target = torch.exp2(torch.floor(torch.log2(batch_max[idx].clamp_min(1e-30))) + 1)
            old = self.range[idx]
            fresh = old == 0
            self.range[idx[fresh]] = target[fresh]
            idx, target, old = idx[~fresh], target[~fresh], old[~fresh]
            if len(idx):
                doublings = torch.round(torch.log2(target / old)).long()
                for d in doublings.unique().tolist():
                    sel = idx[doublings == d]
                    f = min(2**d, self.bins)
                    merged = self.counts[sel].view(len(sel), self.bins // f, f).sum(-1)
                    self.counts[sel] = 0
                    self.counts[sel, : self.bins // f] = merged
                    self.range[sel] = self.range[sel] * 2**d
        b = (val / self.range[feat] * self.bins).long().clamp_(0, self.bins - 1)
        self.counts.view(-1).index_add_(0, feat * self.bins + b, torch.ones_like(b))

    def panel(self, i: int) -> dict:
        c = self.counts[i]
        nz = c.nonzero()
        last = int(nz.max()) + 1 if len(nz) else 0
        width = float(self.range[i]) / self.bins
        return {"edges": [round(width * j, 6) for j in range(last + 1)], "counts": c[:last].tolist()}


class NeuronCorrelation:
    """Σf, Σf², Σx, Σx², Σf·x over all tokens (float64), so corr(f_i, x_j) needs no second pass."""

    def __init__(self, d_sae: int, d_in: int):
        self.n = 0
        self.sf = torch.zeros(d_sae, dtype=torch.float64)
        self.sf2 = torch.zeros(d_sae, dtype=torch.float64)
        self.sx = torch.zeros(d_in, dtype=torch.float64)
        self.sx2 = torch.zeros(d_in, dtype=torch.float64)
        self.sfx = torch.zeros(d_sae, d_in, dtype=torch.float64)

    def add(self, x: torch.Tensor, tok: torch.Tensor, feat: torch.Tensor, val: torch.Tensor) -> None:
        self.n += x.shape[0]
        self.sx += x.sum(0, dtype=torch.float64)
        self.sx2 += x.pow(2).sum(0, dtype=torch.float64)
        self.sf.index_add_(0, feat, val.double())
        self.sf2.index_add_(0, feat, val.double().pow(2))
        fs = torch.sparse_coo_tensor(torch.stack([feat, tok]), val, (len(self.sf), x.shape[0]), check_invariants=False)
        self.sfx += torch.sparse.mm(fs, x).double()  # Σ f·x over active entries only: nnz × d_in work

    def top(self, k: int, chunk: int = 2048) -> tuple[torch.Tensor, torch.Tensor]:
        """Indices and Pearson correlations of the k most correlated input dimensions per feature."""
        n = max(self.n, 1)
        mf, mx = self.sf / n, self.sx / n
        sdf = (self.sf2 / n - mf.pow(2)).clamp_min(0).sqrt()
        sdx = (self.sx2 / n - mx.pow(2)).clamp_min(0).sqrt()
        vals, idxs = [], []
        for s in range(0, len(mf), chunk):
            cov = self.sfx[s : s + chunk] / n - mf[s : s + chunk, None] * mx[None]
            corr = cov / (sdf[s : s + chunk, None] * sdx[None]).clamp_min(1e-12)
            v, i = corr.float().topk(min(k, corr.shape[1]), dim=1)
            vals.append(v)
            idxs.append(i)
        return torch.cat(idxs), torch.cat(vals)


class FeatureCorrelation:
    """Feature-feature Pearson correlation over the first `max_tokens` tokens, from their sparse activations."""

    def __init__(self, d_sae: int, max_tokens: int):
        self.d_sae, self.max_tokens, self.n = d_sae, max_tokens, 0
        self.parts: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []

    def add(self, n_tokens: int, tok: torch.Tensor, feat: torch.Tensor, val: torch.Tensor) -> None:
        room = self.max_tokens - self.n
        if room <= 0:
            return
        keep = tok < room
        self.parts.append((tok[keep] + self.n, feat[keep], val[keep]))
        self.n += min(n_tokens, room)

    def top(
        self, k: int, max_block_bytes: int = 1 << 28, max_pairs: int = 1 << 22
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Top-k Pearson correlations per feature. Σ f_i f_j comes from the co-active pairs of each token
        (Σ_t L0_t² work, no d_sae × tokens matrix); rows are done in blocks that fit `max_block_bytes`."""
        k = min(k, self.d_sae - 1)
        if not self.parts or self.n == 0 or k <= 0:
            return torch.zeros(self.d_sae, max(k, 0), dtype=torch.long), torch.zeros(self.d_sae, max(k, 0))
        tok, feat, val = (torch.cat(p) for p in zip(*self.parts))  # sorted by token
        n, d = self.n, self.d_sae
        s1 = torch.zeros(d, dtype=torch.float64).index_add_(0, feat, val.double())
        s2 = torch.zeros(d, dtype=torch.float64).index_add_(0, feat, val.double().pow(2))
        mean = s1 / n
        sd = (s2 / n - mean.pow(2)).clamp_min(0).sqrt()
        counts = torch.bincount(tok, minlength=n)
        starts = torch.cumsum(counts, 0) - counts
        rows = max(1, min(d, max_block_bytes // (8 * d)))
        vals, idxs = [], []
        for r0 in range(0, d, rows):
            r1 = min(d, r0 + rows)
            co = torch.zeros((r1 - r0) * d, dtype=torch.float64)
            ents = ((feat >= r0) & (feat < r1)).nonzero().flatten()
            reps = counts[tok[ents]]
            csum = torch.cumsum(reps, 0)
            lo = 0
            while lo < len(ents):  # bounded number of pairs at a time
                hi = int(torch.searchsorted(csum, csum[lo] - reps[lo] + max_pairs, right=True))
                hi = max(hi, lo + 1)
                e, rep = ents[lo:hi], reps[lo:hi]
                a = torch.repeat_interleave(e, rep)
                first = torch.cumsum(rep, 0) - rep
                off = torch.arange(len(a)) - torch.repeat_interleave(first, rep)
                b = starts[tok[a]] + off
                co.index_add_(0, (feat[a] - r0) * d + feat[b], (val[a] * val[b]).double())
                lo = hi
            co = co.view(r1 - r0, d)
            cov = co / n - mean[r0:r1, None] * mean[None]
            corr = cov / (sd[r0:r1, None] * sd[None]).clamp_min(1e-12)
            corr[torch.arange(r1 - r0), torch.arange(r0, r1)] = -2.0  # not itself
            corr[sd[r0:r1] == 0] = 0.0
            v, i = corr.float().topk(k, dim=1)
            vals.append(v)
            idxs.append(i)
        return torch.cat(idxs), torch.cat(vals)
