// COCO evaluation core. Work is split over (category, image) groups for evaluate and over
// (category, area range, maxDets) cells for accumulate, each through at::parallel_for; a group
// needs only its own IoU matrix, so memory stays bounded by the largest single group.
#include "coco/eval.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>

#include "common/parallel.h"

namespace tva {
namespace coco {
namespace {

constexpr bool kLittleEndian = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__;

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

// np.sum of a contiguous float64 array: the first element, plus numpy's pairwise sum of the rest
// (sequential below 8 elements, eight interleaved partial sums up to 128, halves beyond).
double pairwise_sum(const double* a, int64_t n) {
  if (n < 8) {
    double s = 0.;
    for (int64_t i = 0; i < n; ++i) s += a[i];
    return s;
  }
  if (n <= 128) {
    double r[8];
    for (int j = 0; j < 8; ++j) r[j] = a[j];
    int64_t i = 8;
    for (; i < n - (n % 8); i += 8)
      for (int j = 0; j < 8; ++j) r[j] += a[i + j];
    double s = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; ++i) s += a[i];
    return s;
  }
  int64_t n2 = n / 2;
  n2 -= n2 % 8;
  return pairwise_sum(a, n2) + pairwise_sum(a + n2, n - n2);
}

double numpy_sum(const double* a, int64_t n) {
  if (n == 0) return 0.;
  return a[0] + pairwise_sum(a + 1, n - 1);
}

// Annotation j's mask: stored, or parsed from its compressed string into scratch.
const Rle* mask_of(const AnnotationSet& s, int64_t j, Rle& scratch) {
  if (!s.rle.empty()) return &s.rle[j];
  if (!rle_from_string(s.rle_chars + s.rle_off[j], s.rle_off[j + 1] - s.rle_off[j], s.rle_h[j],
                       s.rle_w[j], scratch))
    return nullptr;
  return &scratch;
}

// np.max((0, v)) for one element: NaN propagates.
inline double max0(double v) {
  return std::isnan(v) ? v : (v > 0 ? v : 0.);
}

} // namespace

double keypoint_oks(const double* d, const double* g, const Box& bb, double gt_area,
                    const std::vector<double>& vars) {
  const int64_t k = static_cast<int64_t>(vars.size());
  int64_t k1 = 0;
  for (int64_t q = 0; q < k; ++q) k1 += g[3 * q + 2] > 0;
  const double x0 = bb.x - bb.w, x1 = bb.x + bb.w * 2;
  const double y0 = bb.y - bb.h, y1 = bb.y + bb.h * 2;
  const double denom = gt_area + (std::nextafter(1.0, 2.0) - 1.0);
  double terms[64];
  std::vector<double> big;
  double* ex = terms;
  if (k > 64) {
    big.resize(k);
    ex = big.data();
  }
  int64_t n = 0;
  for (int64_t q = 0; q < k; ++q) {
    const double xd = d[3 * q], yd = d[3 * q + 1];
    double dx, dy;
    if (k1 > 0) {
      if (!(g[3 * q + 2] > 0)) continue;
      dx = xd - g[3 * q];
      dy = yd - g[3 * q + 1];
    } else {
      dx = max0(x0 - xd) + max0(xd - x1);
      dy = max0(y0 - yd) + max0(yd - y1);
    }
    const double e = (dx * dx + dy * dy) / vars[q] / denom / 2;
    ex[n++] = std::exp(-e);
  }
  return numpy_sum(ex, n) / double(n);
}

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

  std::atomic<int64_t> bad{-1};
  tva::parallel_for(G, 64, [&](int64_t begin, int64_t end) {
    std::vector<int64_t> dts, gts, gtind;
    std::vector<double> ious;
    std::vector<Box> dbox, gbox;
    std::vector<double> darea_f; // 'area' field of the group's detections, in sorted order
    std::vector<uint64_t> darea;
    std::vector<uint8_t> gig, crowd, sig;
    std::vector<int64_t> gtm, dtm; // matched ids, per threshold
    std::vector<Rle> dscratch, gscratch;
    std::vector<const Rle*> dmask, gmask;
    const Rle empty;
    for (int64_t g = begin; g < end; ++g) {
      const int64_t g0 = gt_off[g], ng = gt_off[g + 1] - g0;
      const int64_t d0 = dt_all_off[g], nd_all = dt_all_off[g + 1] - d0;
      if (ng == 0 && nd_all == 0) continue;
      r.valid[g] = 1;
      dts.assign(dt_members.begin() + d0, dt_members.begin() + d0 + nd_all);
      const auto by_score = [&](int64_t a, int64_t b) {
        return score_before(dt.score[a], dt.score[b]);
      };
      if (nd_all <= 32) {
        // Stable insertion sort: small groups are the rule, and it allocates nothing.
        for (int64_t x = 1; x < nd_all; ++x) {
          const int64_t v = dts[x];
          int64_t y = x;
          while (y > 0 && by_score(v, dts[y - 1])) {
            dts[y] = dts[y - 1];
            --y;
          }
          dts[y] = v;
        }
      } else {
        std::stable_sort(dts.begin(), dts.end(), by_score);
      }
      const int64_t D = r.dt_off[g + 1] - r.dt_off[g];
      dts.resize(D);
      darea_f.resize(D);
      for (int64_t d = 0; d < D; ++d) {
        r.dt_order[r.dt_off[g] + d] = dts[d];
        r.dt_score[r.dt_off[g] + d] = dt.score[dts[d]];
        darea_f[d] = dt.area[dts[d]];
      }
      if (ng == 0) {
        // No ground truth (most groups): nothing to match, no gt counted; a detection is ignored
        // where its area is outside the range and a false positive elsewhere.
        uint8_t* flags = r.flags.data() + A * T * r.dt_off[g];
        for (int64_t a = 0; a < A; ++a) {
          const double lo = p.area_rng[a][0], hi = p.area_rng[a][1];
          for (int64_t d = 0; d < D; ++d)
            if (darea_f[d] < lo || darea_f[d] > hi)
              std::memset(flags + (d * A + a) * T, kIgnored, T);
        }
        continue;
      }
      gts.assign(gt_members.begin() + g0, gt_members.begin() + g0 + ng);

      // IoU of every detection with every gt (gts in annotation order), as maskUtils.iou.
      const bool have_ious = D > 0 && ng > 0 && !p.no_ious;
      if (have_ious) {
        ious.resize(D * ng);
        if (p.segm) {
          dbox.resize(D);
          darea.resize(D);
          gbox.resize(ng);
          dmask.resize(D);
          gmask.resize(ng);
          dscratch.resize(std::max<size_t>(dscratch.size(), D));
          gscratch.resize(std::max<size_t>(gscratch.size(), ng));
          for (int64_t d = 0; d < D; ++d) {
            dmask[d] = mask_of(dt, dts[d], dscratch[d]);
            if (!dmask[d]) {
              bad = static_cast<int64_t>(gt.size()) + dts[d];
              dmask[d] = &empty;
            }
            dbox[d] = rle_to_bbox(*dmask[d]);
            darea[d] = rle_area(*dmask[d]);
          }
          for (int64_t j = 0; j < ng; ++j) {
            gmask[j] = mask_of(gt, gts[j], gscratch[j]);
            if (!gmask[j]) {
              bad = gts[j];
              gmask[j] = &empty;
            }
            gbox[j] = rle_to_bbox(*gmask[j]);
          }
        }
        if (p.keypoints) {
          const int64_t kk = 3 * static_cast<int64_t>(p.kpt_vars.size());
          for (int64_t j = 0; j < ng; ++j) {
            const int64_t gi = gts[j];
            for (int64_t d = 0; d < D; ++d)
              ious[d * ng + j] = keypoint_oks(&dt.kpts[dts[d] * kk], &gt.kpts[gi * kk], gt.bbox[gi],
                                              gt.area[gi], p.kpt_vars);
          }
        } else {
          for (int64_t j = 0; j < ng; ++j) {
            const int64_t gi = gts[j];
            const bool c = gt.iscrowd[gi] != 0;
            for (int64_t d = 0; d < D; ++d) {
              const int64_t di = dts[d];
              double v;
              if (p.segm) {
                v = rle_iou(*dmask[d], *gmask[j], darea[d], 0, dbox[d], gbox[j], c);
              } else {
                v = box_iou(dt.bbox[di], gt.bbox[gi], c);
              }
              ious[d * ng + j] = v;
            }
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
        // Stable sort by the ignore flag: kept gts first, then ignored ones, each in order.
        gtind.clear();
        for (int64_t j = 0; j < ng; ++j)
          if (!gig[j]) gtind.push_back(j);
        for (int64_t j = 0; j < ng; ++j)
          if (gig[j]) gtind.push_back(j);
        int64_t npig = 0;
        crowd.resize(ng);
        sig.resize(ng);
        for (int64_t j = 0; j < ng; ++j) {
          sig[j] = gig[gtind[j]];
          crowd[j] = gt.iscrowd[gts[gtind[j]]] != 0;
          npig += sig[j] == 0;
        }
        r.npig[g * A + a] = npig;
        gtm.assign(T * ng, 0);
        dtm.assign(T * D, 0);
        uint8_t* f = flags + a * T; // detection d, threshold t at f[d * A * T + t]
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
              if (sig[m]) f[d * A * T + t] |= kIgnored;
              dtm[t * D + d] = gt.id[gts[gtind[m]]];
              gtm[t * ng + m] = dt.id[dts[d]];
            }
          }
        }
        for (int64_t d = 0; d < D; ++d) {
          const double da = darea_f[d];
          const bool outside = da < lo || da > hi;
          uint8_t* fd = f + d * A * T;
          for (int64_t t = 0; t < T; ++t) {
            if (dtm[t * D + d] != 0)
              fd[t] |= kMatched;
            else if (outside)
              fd[t] |= kIgnored;
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
  r.bad_rle = bad.load();
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
  if (nk == 0 || na == 0 || nm == 0) return out;
  const double eps = std::nextafter(1.0, 2.0) - 1.0; // np.spacing(1)
  int64_t max_m = 0;
  for (int64_t v : args.m_list) max_m = std::max(max_m, v);

  // One category per task. Detections are sorted once per category: the order cocoeval's stable
  // sort gives for a smaller maxDets is the subsequence of this one.
  tva::parallel_for(nk, 1, [&](int64_t begin, int64_t end) {
    struct Item {
      double score;
      int64_t rank; // position of the detection within its image
      int64_t flag_base;
      int64_t src; // position before sorting
    };
    struct Event {
      double tp, fp;
      int64_t j; // index into items
    };
    std::vector<Item> items;
    std::vector<int64_t> npig(na);
    std::vector<double> tp(T), fp(T), smax;
    std::vector<std::vector<Event>> events(T);
    std::vector<uint64_t> tp_mask, fp_mask, tp_all, fp_all_masks;
    const uint64_t full = T >= 64 ? ~uint64_t{0} : (uint64_t{1} << T) - 1;
    for (int64_t k = begin; k < end; ++k) {
      const int64_t k0 = args.k_list[k];
      if (k0 < 0 || k0 >= e.num_cats) continue;
      items.clear();
      std::fill(npig.begin(), npig.end(), 0);
      bool any = false;
      for (int64_t i : args.i_list) {
        if (i < 0 || i >= I0) continue;
        const int64_t g = k0 * I0 + i;
        if (!e.valid[g]) continue;
        any = true;
        for (int64_t a = 0; a < na; ++a) npig[a] += e.npig[g * A0 + args.a_list[a]];
        const int64_t D = e.dt_off[g + 1] - e.dt_off[g];
        const int64_t take = std::min(D, std::max<int64_t>(max_m, 0));
        for (int64_t d = 0; d < take; ++d)
          items.push_back({e.dt_score[e.dt_off[g] + d], d, A0 * T * (e.dt_off[g] + d), 0});
      }
      if (!any) continue;
      const int64_t n = static_cast<int64_t>(items.size());
      if (T <= 64) {
        // True / false positive bits per threshold, read while the flags are still visited in
        // memory order (all detections of a category are contiguous).
        tp_all.assign(n * na, 0);
        fp_all_masks.assign(n * na, 0);
        for (int64_t j = 0; j < n; ++j) {
          items[j].src = j;
          for (int64_t a = 0; a < na; ++a) {
            const uint8_t* f = e.flags.data() + items[j].flag_base + args.a_list[a] * T;
            uint64_t tpm = 0, fpm = 0;
            int64_t t = 0;
            for (; kLittleEndian && t + 8 <= T; t += 8) {
              // Eight flags at once: bit 0 / bit 1 of each byte, gathered into 8 bits by one
              // multiplication (byte i lands on bit i of the top byte).
              uint64_t x;
              std::memcpy(&x, f + t, 8);
              const uint64_t lo = 0x0101010101010101ull;
              const uint64_t kept = ~(x >> 1) & lo, matched = x & lo;
              tpm |= (((matched & kept) * 0x0102040810204080ull) >> 56) << t;
              fpm |= (((~matched & kept & lo) * 0x0102040810204080ull) >> 56) << t;
            }
            for (; t < T; ++t) { // branch-free: flags are unpredictable
              const uint64_t v = f[t];
              const uint64_t kept = ((v >> 1) & 1) ^ 1;
              tpm |= ((v & 1) & kept) << t;
              fpm |= (((v & 1) ^ 1) & kept) << t;
            }
            tp_all[j * na + a] = tpm;
            fp_all_masks[j * na + a] = fpm;
          }
        }
      }
      std::stable_sort(items.begin(), items.end(), [](const Item& x, const Item& y) {
        return score_before(x.score, y.score);
      });
      for (int64_t a = 0; a < na; ++a) {
        if (npig[a] == 0) continue;
        const int64_t a0 = args.a_list[a];
        const double np_ = double(npig[a]);
        if (T <= 64) {
          tp_mask.resize(n);
          fp_mask.resize(n);
          for (int64_t j = 0; j < n; ++j) {
            tp_mask[j] = tp_all[items[j].src * na + a];
            fp_mask[j] = fp_all_masks[items[j].src * na + a];
          }
        }
        for (int64_t m = 0; m < nm; ++m) {
          const int64_t max_det = args.m_list[m];
          std::fill(tp.begin(), tp.end(), 0.0);
          std::fill(fp.begin(), fp.end(), 0.0);
          for (auto& ev : events) ev.clear();
          int64_t nd = 0, first = -1;
          bool first_tp[64] = {false};
          if (T <= 64) {
            // Detections that are false positives at every threshold (the common case) only bump
            // one shared counter.
            double fp_all = 0;
            for (int64_t j = 0; j < n; ++j) {
              if (items[j].rank >= max_det) continue;
              if (nd++ == 0) first = j;
              uint64_t fpm = fp_mask[j], tpm = tp_mask[j];
              if (fpm == full) {
                fp_all += 1;
                continue;
              }
              while (fpm) {
                fp[__builtin_ctzll(fpm)] += 1;
                fpm &= fpm - 1;
              }
              while (tpm) {
                const int t = __builtin_ctzll(tpm);
                tpm &= tpm - 1;
                tp[t] += 1;
                events[t].push_back({tp[t], fp[t] + fp_all, j});
                if (j == first) first_tp[t] = true;
              }
            }
          } else {
            for (int64_t j = 0; j < n; ++j) {
              const Item& it = items[j];
              if (it.rank >= max_det) continue;
              if (nd++ == 0) first = j;
              const uint8_t* f = e.flags.data() + it.flag_base + a0 * T;
              for (int64_t t = 0; t < T; ++t) {
                const uint8_t v = f[t];
                if (v & kIgnored) continue;
                if (v & kMatched) {
                  tp[t] += 1;
                  events[t].push_back({tp[t], fp[t], j});
                  if (j == first && t < 64) first_tp[t] = true;
                } else {
                  fp[t] += 1;
                }
              }
            }
          }
          for (int64_t t = 0; t < T; ++t) {
            const int64_t rec_idx = ((t * K + k) * A + a) * M + m;
            out.recall[rec_idx] = nd ? tp[t] / np_ : 0.0;
            const auto& ev = events[t];
            const int64_t ne = static_cast<int64_t>(ev.size());
            if (nd > 0) {
              // Interpolated precision at each true positive: the maximum over it and all later
              // ones (precision only rises at true positives).
              smax.resize(ne);
              for (int64_t q = ne - 1; q >= 0; --q) {
                const double pr = ev[q].tp / (ev[q].fp + ev[q].tp + eps);
                smax[q] = (q + 1 < ne && smax[q + 1] > pr) ? smax[q + 1] : pr;
              }
            }
            const bool ftp = t < 64 ? first_tp[t] : (ne > 0 && ev[0].j == first);
            const double rc0 = (ftp ? 1.0 : 0.0) / np_;
            bool stopped = nd == 0;
            int64_t lo = 0;
            double prev_r = -std::numeric_limits<double>::infinity();
            for (int64_t ri = 0; ri < R; ++ri) {
              const int64_t idx = (((t * R + ri) * K + k) * A + a) * M + m;
              const double r = args.rec_thrs[ri];
              double pv = 0.0, sv = 0.0;
              if (!stopped) {
                if (rc0 >= r) { // searchsorted gives the first detection
                  pv = ne > 0 ? smax[0] : 0.0;
                  sv = items[first].score;
                } else {
                  // First true positive whose recall (tp / npig) reaches r; thresholds usually
                  // increase, so the search resumes where the previous one ended.
                  if (!(r >= prev_r)) lo = 0;
                  int64_t hi = ne;
                  while (lo < hi) {
                    const int64_t mid = (lo + hi) / 2;
                    if (ev[mid].tp / np_ >= r)
                      hi = mid;
                    else
                      lo = mid + 1;
                  }
                  prev_r = r;
                  if (lo >= ne) {
                    stopped = true; // cocoeval's IndexError: this and later thresholds stay 0
                  } else {
                    pv = smax[lo];
                    sv = items[ev[lo].j].score;
                  }
                }
              }
              out.precision[idx] = pv;
              out.scores[idx] = sv;
            }
          }
        }
      }
    }
  });
  return out;
}

} // namespace coco
} // namespace tva
