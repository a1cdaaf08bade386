// COCO detection evaluation (bbox, segm and keypoints), the algorithm of pycocotools' COCOeval,
// independent of Python. Inputs are columnar annotation sets; outputs are compact per-image,
// per-category results (evaluate) and the precision / recall / score arrays (accumulate).
//
// Semantics follow cocoeval.py exactly:
//  * detections of one (image, category) are ordered by decreasing score with a stable sort (numpy's
//    mergesort on -score; NaN last) and cut to maxDets[-1]; ground truths keep annotation order for
//    the IoU matrix and are then stably ordered by their ignore flag for matching;
//  * matching per IoU threshold t: each detection takes the gt with the largest IoU >= min(t,
//    1-1e-10) among gts not yet matched (crowd gts may be matched many times), later gts winning
//    ties, stopping at the first ignored gt once a non-ignored one is matched;
//  * "matched" tests use the ids as cocoeval does (a gt counts as matched when the stored detection
//    id is > 0; a detection counts as a true positive when the stored gt id is nonzero);
//  * unmatched detections outside the area range are ignored;
//  * accumulate concatenates images in order, stably sorts by -score, interpolates precision and
//    samples it at recall thresholds with searchsorted(side='left'); -1 marks absent entries.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "coco/rle.h"

namespace tva {
namespace coco {

// One side of the evaluation (ground truth or detections), in annotation order. Annotations whose
// image or category is not evaluated are left out by the caller (or given img = -1).
struct AnnotationSet {
  std::vector<int64_t> img;      // index of the image in the evaluated image list, or -1
  std::vector<int64_t> cat;      // index of the category in the evaluated category list
  std::vector<int64_t> id;       // annotation id
  std::vector<double> area;      // 'area' field
  std::vector<uint8_t> iscrowd;  // ground truth only (empty for detections)
  std::vector<uint8_t> ignore;   // ground truth only: cocoeval's 'ignore' flag
  std::vector<double> score;     // detections only
  std::vector<Box> bbox;         // bbox evaluation; for keypoints, the gt boxes
  std::vector<Rle> rle;          // segm: the masks, or empty to read them from rle_chars
  // segm, compressed: annotation j's counts string is rle_chars[rle_off[j] .. rle_off[j + 1]), of a
  // rle_h[j] x rle_w[j] mask. Only the masks of groups that need IoUs are parsed.
  const char* rle_chars = nullptr;
  std::vector<int64_t> rle_off;
  std::vector<int64_t> rle_h, rle_w;
  std::vector<double> kpts;      // keypoints: [size() * 3 * num_kpts] (x, y, v) triplets
  size_t size() const {
    return img.size();
  }
};

struct EvalParams {
  std::vector<double> iou_thrs;
  std::vector<std::array<double, 2>> area_rng;
  int64_t max_det = 100; // maxDets[-1]
  bool segm = false;
  // Keypoints (OKS instead of IoU, computeOks): one variance (2 sigma)^2 per keypoint. When
  // no_ious is set, no similarities are computed (cocoeval's computeOks with useCats = 0 looks up
  // the pseudo category -1 and finds nothing), so no detection is matched.
  bool keypoints = false;
  std::vector<double> kpt_vars;
  bool no_ious = false;
  bool detail = false; // also produce the per-image match ids (cocoeval's evalImgs)
};

// Flags per (detection, area range, threshold).
constexpr uint8_t kMatched = 1; // dtMatches != 0
constexpr uint8_t kIgnored = 2; // dtIgnore

// Results of evaluate() for num_cats x num_imgs groups (group g = k * num_imgs + i).
struct EvalResult {
  int64_t num_imgs = 0, num_cats = 0, num_areas = 0, num_thrs = 0;
  std::vector<int64_t> dt_off;      // [G + 1] offsets into dt_order / dt_score
  std::vector<int64_t> dt_order;    // detection indices per group, sorted, cut to max_det
  std::vector<double> dt_score;     // their scores
  std::vector<uint8_t> valid;       // [G] group has gt or detections (cocoeval's evalImg is not None)
  std::vector<int64_t> npig;        // [G * A] non-ignored gts per group and area range
  std::vector<uint8_t> flags;       // [total dt, A, T], detections in dt_order order
  // detail only:
  std::vector<int64_t> gt_off;      // [G + 1]
  std::vector<int64_t> gt_order;    // [A * total gt]: per group and area, gt indices sorted by ignore
  std::vector<uint8_t> gt_ignore;   // [A * total gt], aligned with gt_order
  std::vector<double> dt_matches;   // [A * T * total dt]: matched gt id or 0
  std::vector<double> gt_matches;   // [A * T * total gt]: matched dt id or 0, aligned with gt_order
  // segm from compressed strings: an annotation whose string is malformed (-1 if none; gt then dt,
  // as gt index or total gt + dt index).
  int64_t bad_rle = -1;
};

// Object keypoint similarity of one detection with one gt, as cocoeval.computeOks: keypoints are
// (x, y, v) triplets, num_kpts = vars.size(). A gt with no visible keypoint (v > 0) is compared
// through the distance of the detection's keypoints to its box enlarged by its size on each side.
double keypoint_oks(const double* dt_kpts, const double* gt_kpts, const Box& gt_box, double gt_area,
                    const std::vector<double>& vars);

EvalResult evaluate(const AnnotationSet& gt, const AnnotationSet& dt, int64_t num_imgs,
                    int64_t num_cats, const EvalParams& params);

struct AccumulateArgs {
  std::vector<int64_t> k_list, a_list, m_list /* maxDets values */, i_list;
  std::vector<double> rec_thrs;
  int64_t K = 0, A = 0, M = 0; // output sizes
};

struct Accumulated {
  std::vector<double> precision; // [T, R, K, A, M]
  std::vector<double> recall;    // [T, K, A, M]
  std::vector<double> scores;    // [T, R, K, A, M]
};

Accumulated accumulate(const EvalResult& e, const AccumulateArgs& args);

} // namespace coco
} // namespace tva
