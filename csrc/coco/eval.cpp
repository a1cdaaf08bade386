// COCO evaluation core. Work is split over (category, image) groups for evaluate and over
// (category, area range, maxDets) cells for accumulate, each through at::parallel_for; a group
// needs only its own IoU matrix, so memory stays bounded by the largest single group.
#include "coco/eval.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "common/parallel.h"

namespace tva {
namespace coco {
namespace {

// Order of np.argsort(-scores, kind='mergesort'): decreasing score, ties by position, NaN last.
inline bool score_before(double a, double b) {
  const bool na = std::isnan(a), nb = std::isnan(b);
  if (na || nb) return !na && nb;
  return a > b;
}

// Annotation indices grouped by g = cat * num_imgs + img, each group in annotation order.
void group_members(const AnnotationSet& s, int64_t num_imgs, int64_t num_cats,
                   std::vector<int64_t>& off, std::vector<int64_t>& members) {
  const int64_t G = num_imgs * num_cats;
  off.assign(G + 1, 0);
  const int64_t n = static_cast<int64_t>(s.size());
  auto group = [&](int64_t j) -> int64_t {
    const int64_t i = s.img[j], k = s.cat[j];
    if (i < 0 || i >= num_imgs || k < 0 || k >= num_cats) return -1;
    return k * num_imgs + i;
  };
  for (int64_t j = 0; j < n; ++j) {
    const int64_t g = group(j);
    if (g >= 0) ++off[g + 1];
  }
  for (int64_t g = 0; g < G; ++g) off[g + 1] += off[g];
  members.assign(off[G], 0);
  std::vector<int64_t> fill(off.begin(), off.end() - 1);
  for (int64_t j = 0; j < n; ++j) {
    const int64_t g = group(j);
    if (g >= 0) members[fill[g]++] = j;
  }
}

} // namespace

EvalResult evaluate(const AnnotationSet& gt, const AnnotationSet& dt, int64_t num_imgs,
                    int64_t num_cats, const EvalParams& p) {
  EvalResult r;
  const int64_t I = num_imgs, K = num_cats, G = I * K;
  const int64_t A = static_cast<int64_t>(p.area_rng.size());
  const int64_t T = static_cast<int64_t>(p.iou_thrs.size());
  r.num_imgs = I;
  r.num_cats = K;
  r.num_areas = A;
  r.num_thrs = T;

  std::vector<int64_t> gt_off, gt_members, dt_all_off, dt_members;
  group_members(gt, I, K, gt_off, gt_members);
  group_members(dt, I, K, dt_all_off, dt_members);

  const int64_t max_det = std::max<int64_t>(p.max_det, 0);
  r.dt_off.assign(G + 1, 0);
  for (int64_t g = 0; g < G; ++g)
    r.dt_off[g + 1] = r.dt_off[g] + std::min(dt_all_off[g + 1] - dt_all_off[g], max_det);
  const int64_t total_dt = r.dt_off[G];
  const int64_t total_gt = gt_off[G];
  r.dt_order.assign(total_dt, 0);
  r.dt_score.assign(total_dt, 0.0);
  r.valid.assign(G, 0);
  r.npig.assign(G * A, 0);
  r.flags.assign(A * T * total_dt, 0);
  if (p.detail) {
    r.gt_off = gt_off;
    r.gt_order.assign(A * total_gt, 0);
    r.gt_ignore.assign(A * total_gt, 0);
    r.dt_matches.assign(A * T * total_dt, 0.0);
    r.gt_matches.assign(A * T * total_gt, 0.0);
  }

  std::vector<double> thr(T);
  for (int64_t t = 0; t < T; ++t) thr[t] = std::min(p.iou_thrs[t], 1 - 1e-10);

  tva::parallel_for(G, 64, [&](int64_t begin, int64_t end) {
    std::vector<int64_t> dts, gts, gtind;
    std::vector<double> ious;
    std::vector<Box> dbox, gbox;
    std::vector<uint64_t> darea;
    std::vector<uint8_t> gig, crowd;
    std::vector<int64_t> gtm, dtm; // matched ids, per threshold
    for (int64_t g = begin; g < end; ++g) {
      const int64_t g0 = gt_off[g], ng = gt_off[g + 1] - g0;
      const int64_t d0 = dt_all_off[g], nd_all = dt_all_off[g + 1] - d0;
      if (ng == 0 && nd_all == 0) continue;
      r.valid[g] = 1;
      dts.assign(dt_members.begin() + d0, dt_members.begin() + d0 + nd_all);
      std::stable_sort(dts.begin(), dts.end(), [&](int64_t a, int64_t b) {
        return score_before(dt.score[a], dt.score[b]);
      });
      const int64_t D = r.dt_off[g + 1] - r.dt_off[g];
      dts.resize(D);
      for (int64_t d = 0; d < D; ++d) {
        r.dt_order[r.dt_off[g] + d] = dts[d];
        r.dt_score[r.dt_off[g] + d] = dt.score[dts[d]];
      }
      gts.assign(gt_members.begin() + g0, gt_members.begin() + g0 + ng);

      // IoU of every detection with every gt (gts in annotation order), as maskUtils.iou.
      const bool have_ious = D > 0 && ng > 0;
      if (have_ious) {
        ious.resize(D * ng);
        if (p.segm) {
          dbox.resize(D);
          darea.resize(D);
          gbox.resize(ng);
          for (int64_t d = 0; d < D; ++d) {
            dbox[d] = rle_to_bbox(dt.rle[dts[d]]);
            darea[d] = rle_area(dt.rle[dts[d]]);
          }
          for (int64_t j = 0; j < ng; ++j) gbox[j] = rle_to_bbox(gt.rle[gts[j]]);
        }
        for (int64_t j = 0; j < ng; ++j) {
          const int64_t gi = gts[j];
          const bool c = gt.iscrowd[gi] != 0;
          for (int64_t d = 0; d < D; ++d) {
            const int64_t di = dts[d];
            double v;
            if (p.segm) {
              v = rle_iou(dt.rle[di], gt.rle[gi], darea[d], 0, dbox[d], gbox[j], c);
            } else {
              v = box_iou(dt.bbox[di], gt.bbox[gi], c);
            }
            ious[d * ng + j] = v;
          }
        }
      }

      uint8_t* flags = r.flags.data() + A * T * r.dt_off[g];
      for (int64_t a = 0; a < A; ++a) {
        const double lo = p.area_rng[a][0], hi = p.area_rng[a][1];
        gig.resize(ng);
        for (int64_t j = 0; j < ng; ++j) {
          const int64_t gi = gts[j];
          gig[j] = (gt.ignore[gi] || gt.area[gi] < lo || gt.area[gi] > hi) ? 1 : 0;
        }
        gtind.resize(ng);
        std::iota(gtind.begin(), gtind.end(), 0);
        std::stable_sort(gtind.begin(), gtind.end(),
                         [&](int64_t x, int64_t y) { return gig[x] < gig[y]; });
        int64_t npig = 0;
        crowd.resize(ng);
        std::vector<uint8_t> sig(ng);
        for (int64_t j = 0; j < ng; ++j) {
          sig[j] = gig[gtind[j]];
          crowd[j] = gt.iscrowd[gts[gtind[j]]] != 0;
          npig += sig[j] == 0;
        }
        r.npig[g * A + a] = npig;
        gtm.assign(T * ng, 0);
        dtm.assign(T * D, 0);
        uint8_t* f = flags + a * T * D;
        if (have_ious) {
          for (int64_t t = 0; t < T; ++t) {
            for (int64_t d = 0; d < D; ++d) {
              double best = thr[t];
              int64_t m = -1;
              const double* row = &ious[d * ng];
              for (int64_t j = 0; j < ng; ++j) {
                if (gtm[t * ng + j] > 0 && !crowd[j]) continue;
                if (m > -1 && sig[m] == 0 && sig[j] == 1) break;
                const double v = row[gtind[j]];
                if (v < best) continue;
                best = v;
                m = j;
              }
              if (m == -1) continue;
              if (sig[m]) f[t * D + d] |= kIgnored;
              dtm[t * D + d] = gt.id[gts[gtind[m]]];
              gtm[t * ng + m] = dt.id[dts[d]];
            }
          }
        }
        for (int64_t t = 0; t < T; ++t) {
          for (int64_t d = 0; d < D; ++d) {
            const bool matched = dtm[t * D + d] != 0;
            if (matched) {
              f[t * D + d] |= kMatched;
            } else {
              const double da = dt.area[dts[d]];
              if (da < lo || da > hi) f[t * D + d] |= kIgnored;
            }
          }
        }
        if (p.detail) {
          const int64_t gbase = A * g0 + a * ng;
          for (int64_t j = 0; j < ng; ++j) {
            r.gt_order[gbase + j] = gts[gtind[j]];
            r.gt_ignore[gbase + j] = sig[j];
          }
          for (int64_t t = 0; t < T; ++t) {
            for (int64_t d = 0; d < D; ++d)
              r.dt_matches[A * T * r.dt_off[g] + (a * T + t) * D + d] = double(dtm[t * D + d]);
            for (int64_t j = 0; j < ng; ++j)
              r.gt_matches[A * T * g0 + (a * T + t) * ng + j] = double(gtm[t * ng + j]);
          }
        }
      }
    }
  });
  return r;
}

Accumulated accumulate(const EvalResult& e, const AccumulateArgs& args) {
  const int64_t T = e.num_thrs, R = static_cast<int64_t>(args.rec_thrs.size());
  const int64_t K = args.K, A = args.A, M = args.M, I0 = e.num_imgs, A0 = e.num_areas;
  Accumulated out;
  out.precision.assign(T * R * K * A * M, -1.0);
  out.recall.assign(T * K * A * M, -1.0);
  out.scores.assign(T * R * K * A * M, -1.0);
  const int64_t nk = static_cast<int64_t>(args.k_list.size());
  const int64_t na = static_cast<int64_t>(args.a_list.size());
  const int64_t nm = static_cast<int64_t>(args.m_list.size());
  const double eps = std::nextafter(1.0, 2.0) - 1.0; // np.spacing(1)

  tva::parallel_for(nk * na * nm, 1, [&](int64_t begin, int64_t end) {
    struct Item {
      double score;
      int64_t g, d, D;
    };
    std::vector<Item> items;
    std::vector<double> tp, fp, pr, rc;
    for (int64_t cell = begin; cell < end; ++cell) {
      const int64_t k = cell / (na * nm), a = (cell / nm) % na, m = cell % nm;
      const int64_t k0 = args.k_list[k], a0 = args.a_list[a], max_det = args.m_list[m];
      items.clear();
      int64_t npig = 0;
      bool any = false;
      for (int64_t i : args.i_list) {
        if (i < 0 || i >= I0 || k0 < 0 || k0 >= e.num_cats) continue;
        const int64_t g = k0 * I0 + i;
        if (!e.valid[g]) continue;
        any = true;
        npig += e.npig[g * A0 + a0];
        const int64_t D = e.dt_off[g + 1] - e.dt_off[g];
        const int64_t take = std::min(D, std::max<int64_t>(max_det, 0));
        for (int64_t d = 0; d < take; ++d) items.push_back({e.dt_score[e.dt_off[g] + d], g, d, D});
      }
      if (!any || npig == 0) continue;
      std::stable_sort(items.begin(), items.end(),
                       [](const Item& x, const Item& y) { return score_before(x.score, y.score); });
      const int64_t nd = static_cast<int64_t>(items.size());
      for (int64_t t = 0; t < T; ++t) {
        tp.resize(nd);
        fp.resize(nd);
        double tps = 0, fps = 0;
        for (int64_t j = 0; j < nd; ++j) {
          const Item& it = items[j];
          const uint8_t f = e.flags[A0 * T * e.dt_off[it.g] + (a0 * T + t) * it.D + it.d];
          if (!(f & kIgnored)) {
            if (f & kMatched)
              tps += 1;
            else
              fps += 1;
          }
          tp[j] = tps;
          fp[j] = fps;
        }
        rc.resize(nd);
        pr.resize(nd);
        for (int64_t j = 0; j < nd; ++j) {
          rc[j] = tp[j] / double(npig);
          pr[j] = tp[j] / (fp[j] + tp[j] + eps);
        }
        const int64_t rec_idx = ((t * K + k) * A + a) * M + m;
        out.recall[rec_idx] = nd ? rc[nd - 1] : 0.0;
        for (int64_t j = nd - 1; j > 0; --j)
          if (pr[j] > pr[j - 1]) pr[j - 1] = pr[j];
        for (int64_t ri = 0; ri < R; ++ri) {
          const int64_t idx = ((((t * R + ri) * K + k) * A + a) * M + m);
          out.precision[idx] = 0.0;
          out.scores[idx] = 0.0;
        }
        for (int64_t ri = 0; ri < R; ++ri) {
          const int64_t pi =
              std::lower_bound(rc.begin(), rc.end(), args.rec_thrs[ri]) - rc.begin();
          if (pi >= nd) break; // cocoeval's IndexError: this and later thresholds stay 0
          const int64_t idx = ((((t * R + ri) * K + k) * A + a) * M + m);
          out.precision[idx] = pr[pi];
          out.scores[idx] = items[pi].score;
        }
      }
    }
  });
  return out;
}

} // namespace coco
} // namespace tva
