// Schemas and tensor wrappers of the COCO operators (torchvision_adapter::coco_*). The Python
// package `torchvision_adapter.coco` (COCO, COCOeval, mask) is a thin layer over these; the C++ core
// in coco/rle.* and coco/eval.* knows nothing of tensors.
//
// RLE batches travel as four tensors: chars (uint8, the compressed counts strings concatenated),
// lens (int64 [N], string lengths), h and w (int64 [N]).
#include <torch/library.h>

#include <atomic>
#include <cstring>

#include "coco/eval.h"
#include "coco/rle.h"
#include "common/checks.h"
#include "common/parallel.h"

namespace tva {
namespace coco {
namespace {

// A [m, n] double matrix with entry (i, j) = f(i, j); rows in parallel.
template <class F>
at::Tensor pairwise_matrix(int64_t m, int64_t n, const F& f) {
  auto out = at::empty({m, n}, at::kDouble);
  double* o = out.data_ptr<double>();
  tva::parallel_for(m, 16, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i)
      for (int64_t j = 0; j < n; ++j) o[i * n + j] = f(i, j);
  });
  return out;
}

at::Tensor as_long(const at::Tensor& t, const char* name) {
  check_cpu(t, name);
  TORCH_CHECK(!t.is_floating_point() && !t.is_complex(), name,
              " must be an integer tensor, got ", t.scalar_type());
  return t.to(at::kLong).contiguous().view(-1);
}

at::Tensor as_double(const at::Tensor& t, const char* name) {
  check_cpu(t, name);
  TORCH_CHECK(!t.is_complex(), name, " must be a real tensor, got ", t.scalar_type());
  return t.to(at::kDouble).contiguous();
}

template <typename T>
std::vector<T> to_vector(const at::Tensor& t) {
  const auto c = t.contiguous();
  return std::vector<T>(c.data_ptr<T>(), c.data_ptr<T>() + c.numel());
}

std::vector<int64_t> long_vector(const at::Tensor& t, const char* name) {
  return to_vector<int64_t>(as_long(t, name));
}

at::Tensor long_tensor(const std::vector<int64_t>& v) {
  auto out = at::empty({static_cast<int64_t>(v.size())}, at::kLong);
  if (!v.empty()) std::memcpy(out.data_ptr<int64_t>(), v.data(), v.size() * sizeof(int64_t));
  return out;
}

at::Tensor double_tensor(const std::vector<double>& v) {
  auto out = at::empty({static_cast<int64_t>(v.size())}, at::kDouble);
  if (!v.empty()) std::memcpy(out.data_ptr<double>(), v.data(), v.size() * sizeof(double));
  return out;
}

at::Tensor byte_tensor(const std::vector<uint8_t>& v) {
  auto out = at::empty({static_cast<int64_t>(v.size())}, at::kByte);
  if (!v.empty()) std::memcpy(out.data_ptr<uint8_t>(), v.data(), v.size());
  return out;
}

// Parses a batch of compressed RLEs.
std::vector<Rle> parse_rles(const at::Tensor& chars_in, const at::Tensor& lens_in,
                            const at::Tensor& h_in, const at::Tensor& w_in, const char* what) {
  check_cpu(chars_in, what);
  TORCH_CHECK(chars_in.scalar_type() == at::kByte, what,
              ": counts characters must be uint8, got ", chars_in.scalar_type());
  const auto chars = chars_in.contiguous();
  const auto lens = long_vector(lens_in, "lens");
  const auto h = long_vector(h_in, "h");
  const auto w = long_vector(w_in, "w");
  const int64_t n = static_cast<int64_t>(lens.size());
  TORCH_CHECK(static_cast<int64_t>(h.size()) == n && static_cast<int64_t>(w.size()) == n, what,
              ": lens, h and w must have the same length, got ", n, ", ", h.size(), " and ",
              w.size());
  std::vector<int64_t> off(n + 1, 0);
  for (int64_t j = 0; j < n; ++j) {
    TORCH_CHECK(lens[j] >= 0 && h[j] >= 0 && w[j] >= 0, what, ": RLE ", j,
                " has a negative length or size");
    off[j + 1] = off[j] + lens[j];
  }
  TORCH_CHECK(off[n] <= chars.numel(), what, ": string lengths add up to ", off[n],
              " characters but only ", chars.numel(), " were given");
  std::vector<Rle> out(n);
  const char* s = reinterpret_cast<const char*>(chars.data_ptr<uint8_t>());
  std::atomic<int64_t> bad{-1};
  tva::parallel_for(n, 256, [&](int64_t b, int64_t e) {
    for (int64_t j = b; j < e; ++j) {
      if (!rle_from_string(s + off[j], lens[j], h[j], w[j], out[j])) bad = j;
    }
  });
  TORCH_CHECK(bad.load() < 0, what, ": RLE ", bad.load(), " has a malformed counts string");
  return out;
}

std::vector<at::Tensor> pack_rles(const std::vector<Rle>& rles) {
  const int64_t n = static_cast<int64_t>(rles.size());
  std::vector<std::string> strs(n);
  tva::parallel_for(n, 256, [&](int64_t b, int64_t e) {
    for (int64_t j = b; j < e; ++j) strs[j] = rle_to_string(rles[j]);
  });
  int64_t total = 0;
  for (const auto& s : strs) total += static_cast<int64_t>(s.size());
  auto chars = at::empty({total}, at::kByte);
  auto lens = at::empty({n}, at::kLong);
  auto h = at::empty({n}, at::kLong);
  auto w = at::empty({n}, at::kLong);
  uint8_t* c = chars.data_ptr<uint8_t>();
  for (int64_t j = 0; j < n; ++j) {
    std::memcpy(c, strs[j].data(), strs[j].size());
    c += strs[j].size();
    lens.data_ptr<int64_t>()[j] = static_cast<int64_t>(strs[j].size());
    h.data_ptr<int64_t>()[j] = static_cast<int64_t>(rles[j].h);
    w.data_ptr<int64_t>()[j] = static_cast<int64_t>(rles[j].w);
  }
  return {chars, lens, h, w};
}

std::vector<Rle> parse_rle_list(const std::vector<at::Tensor>& t, const char* what) {
  TORCH_CHECK(t.size() == 4, what, " must be [chars, lens, h, w], got ", t.size(), " tensors");
  return parse_rles(t[0], t[1], t[2], t[3], what);
}

// ---- mask functions -------------------------------------------------------------------------

std::vector<at::Tensor> rle_encode_op(const at::Tensor& masks_in) {
  check_cpu(masks_in, "masks");
  TORCH_CHECK(masks_in.dim() == 3, "masks should be a 3d tensor [N, W, H] (each mask in column-major "
              "order), got ", masks_in.dim(), "D");
  TORCH_CHECK(masks_in.scalar_type() == at::kByte, "masks must be uint8, got ",
              masks_in.scalar_type());
  const auto masks = masks_in.contiguous();
  const int64_t n = masks.size(0), w = masks.size(1), h = masks.size(2);
  std::vector<Rle> rles(n);
  const uint8_t* p = masks.data_ptr<uint8_t>();
  tva::parallel_for(n, 16, [&](int64_t b, int64_t e) {
    for (int64_t j = b; j < e; ++j) rles[j] = rle_encode(p + j * h * w, h, w);
  });
  return pack_rles(rles);
}

at::Tensor rle_decode_op(const at::Tensor& chars, const at::Tensor& lens, const at::Tensor& h,
                         const at::Tensor& w) {
  const auto rles = parse_rles(chars, lens, h, w, "rles");
  const int64_t n = static_cast<int64_t>(rles.size());
  TORCH_CHECK(n > 0, "decode needs at least one RLE");
  for (int64_t j = 1; j < n; ++j)
    TORCH_CHECK(rles[j].h == rles[0].h && rles[j].w == rles[0].w,
                "decode: all RLEs must have the same size, RLE 0 is ", rles[0].h, "x", rles[0].w,
                " and RLE ", j, " is ", rles[j].h, "x", rles[j].w);
  const int64_t H = rles[0].h, W = rles[0].w;
  auto out = at::empty({n, W, H}, at::kByte);
  uint8_t* o = out.data_ptr<uint8_t>();
  std::atomic<int64_t> bad{-1};
  tva::parallel_for(n, 4, [&](int64_t b, int64_t e) {
    for (int64_t j = b; j < e; ++j)
      if (!rle_decode(rles[j], o + j * H * W)) bad = j;
  });
  TORCH_CHECK(bad.load() < 0, "decode: the runs of RLE ", bad.load(), " add up to more than h*w");
  return out;
}

at::Tensor rle_area_op(const at::Tensor& chars, const at::Tensor& lens, const at::Tensor& h,
                       const at::Tensor& w) {
  const auto rles = parse_rles(chars, lens, h, w, "rles");
  std::vector<int64_t> a(rles.size());
  for (size_t j = 0; j < rles.size(); ++j) a[j] = static_cast<int64_t>(rle_area(rles[j]));
  return long_tensor(a);
}

at::Tensor rle_to_bbox_op(const at::Tensor& chars, const at::Tensor& lens, const at::Tensor& h,
                          const at::Tensor& w) {
  const auto rles = parse_rles(chars, lens, h, w, "rles");
  const int64_t n = static_cast<int64_t>(rles.size());
  auto out = at::empty({n, 4}, at::kDouble);
  double* o = out.data_ptr<double>();
  for (int64_t j = 0; j < n; ++j) {
    const Box b = rle_to_bbox(rles[j]);
    o[4 * j] = b.x;
    o[4 * j + 1] = b.y;
    o[4 * j + 2] = b.w;
    o[4 * j + 3] = b.h;
  }
  return out;
}

// Area and box of every mask of a batch in one pass (loadRes measures every result mask), each
// string parsed once into a reused buffer.
std::vector<at::Tensor> rle_area_bbox_op(const at::Tensor& chars_in, const at::Tensor& lens_in,
                                         const at::Tensor& h_in, const at::Tensor& w_in) {
  check_cpu(chars_in, "rles");
  TORCH_CHECK(chars_in.scalar_type() == at::kByte, "rles: counts characters must be uint8, got ",
              chars_in.scalar_type());
  const auto chars = chars_in.contiguous();
  const auto lens = long_vector(lens_in, "lens");
  const auto h = long_vector(h_in, "h");
  const auto w = long_vector(w_in, "w");
  const int64_t n = static_cast<int64_t>(lens.size());
  TORCH_CHECK(static_cast<int64_t>(h.size()) == n && static_cast<int64_t>(w.size()) == n,
              "rles: lens, h and w must have the same length, got ", n, ", ", h.size(), " and ",
              w.size());
  std::vector<int64_t> off(n + 1, 0);
  for (int64_t j = 0; j < n; ++j) {
    TORCH_CHECK(lens[j] >= 0 && h[j] >= 0 && w[j] >= 0, "rles: RLE ", j,
                " has a negative length or size");
    off[j + 1] = off[j] + lens[j];
  }
  TORCH_CHECK(off[n] <= chars.numel(), "rles: string lengths add up to ", off[n],
              " characters but only ", chars.numel(), " were given");
  auto area = at::empty({n}, at::kLong);
  auto box = at::empty({n, 4}, at::kDouble);
  int64_t* ap = area.data_ptr<int64_t>();
  double* bp = box.data_ptr<double>();
  const char* s = reinterpret_cast<const char*>(chars.data_ptr<uint8_t>());
  std::atomic<int64_t> bad{-1};
  tva::parallel_for(n, 256, [&](int64_t b, int64_t e) {
    Rle r;
    for (int64_t j = b; j < e; ++j) {
      if (!rle_from_string(s + off[j], lens[j], h[j], w[j], r)) {
        bad = j;
        continue;
      }
      ap[j] = static_cast<int64_t>(rle_area(r));
      const Box bb = rle_to_bbox(r);
      bp[4 * j] = bb.x;
      bp[4 * j + 1] = bb.y;
      bp[4 * j + 2] = bb.w;
      bp[4 * j + 3] = bb.h;
    }
  });
  TORCH_CHECK(bad.load() < 0, "rles: RLE ", bad.load(), " has a malformed counts string");
  return {area, box};
}

std::vector<at::Tensor> rle_merge_op(const at::Tensor& chars, const at::Tensor& lens,
                                     const at::Tensor& h, const at::Tensor& w, bool intersect) {
  const auto rles = parse_rles(chars, lens, h, w, "rles");
  std::vector<const Rle*> ptrs;
  for (const auto& r : rles) ptrs.push_back(&r);
  return pack_rles({rle_merge(ptrs, intersect)});
}

at::Tensor bbox_iou_op(const at::Tensor& dt_in, const at::Tensor& gt_in, const at::Tensor& crowd_in) {
  const auto dt = as_double(dt_in, "dt");
  const auto gt = as_double(gt_in, "gt");
  TORCH_CHECK(dt.dim() == 2 && dt.size(1) == 4, "dt boxes should be [N, 4], got ", dt.sizes());
  TORCH_CHECK(gt.dim() == 2 && gt.size(1) == 4, "gt boxes should be [M, 4], got ", gt.sizes());
  const auto crowd = long_vector(crowd_in, "iscrowd");
  const int64_t m = dt.size(0), n = gt.size(0);
  TORCH_CHECK(static_cast<int64_t>(crowd.size()) == n, "iscrowd should have one flag per gt (", n,
              "), got ", crowd.size());
  const double* d = dt.data_ptr<double>();
  const double* g = gt.data_ptr<double>();
  return pairwise_matrix(m, n, [&](int64_t i, int64_t j) {
    return box_iou({d[4 * i], d[4 * i + 1], d[4 * i + 2], d[4 * i + 3]},
                   {g[4 * j], g[4 * j + 1], g[4 * j + 2], g[4 * j + 3]}, crowd[j] != 0);
  });
}

at::Tensor rle_iou_op(const std::vector<at::Tensor>& dt_t, const std::vector<at::Tensor>& gt_t,
                      const at::Tensor& crowd_in) {
  const auto dt = parse_rle_list(dt_t, "dt");
  const auto gt = parse_rle_list(gt_t, "gt");
  const auto crowd = long_vector(crowd_in, "iscrowd");
  const int64_t m = static_cast<int64_t>(dt.size()), n = static_cast<int64_t>(gt.size());
  TORCH_CHECK(static_cast<int64_t>(crowd.size()) == n, "iscrowd should have one flag per gt (", n,
              "), got ", crowd.size());
  std::vector<Box> db(m), gb(n);
  std::vector<uint64_t> da(m);
  for (int64_t i = 0; i < m; ++i) {
    db[i] = rle_to_bbox(dt[i]);
    da[i] = rle_area(dt[i]);
  }
  for (int64_t j = 0; j < n; ++j) gb[j] = rle_to_bbox(gt[j]);
  return pairwise_matrix(m, n, [&](int64_t i, int64_t j) {
    return rle_iou(dt[i], gt[j], da[i], 0, db[i], gb[j], crowd[j] != 0);
  });
}

// Segmentations as they appear in COCO annotations, to compressed RLEs (annToRLE, frPyObjects).
// kinds: 0 polygons (merged), 1 boxes (each "polygon" holds x, y, w, h; merged), 2 uncompressed
// counts, 3 compressed string. Polygon and box items own npoly[j] entries of poly_lens (numbers
// per polygon) in coords; uncompressed items own ucount_lens[j] entries of ucounts; string items
// own str_lens[j] characters of chars.
std::vector<at::Tensor> segm_to_rle_op(const at::Tensor& kinds_t, const at::Tensor& h_t,
                                       const at::Tensor& w_t, const at::Tensor& npoly_t,
                                       const at::Tensor& poly_lens_t, const at::Tensor& coords_t,
                                       const at::Tensor& ucount_lens_t, const at::Tensor& ucounts_t,
                                       const at::Tensor& str_lens_t, const at::Tensor& chars_t) {
  const auto kinds = long_vector(kinds_t, "kinds");
  const auto h = long_vector(h_t, "h");
  const auto w = long_vector(w_t, "w");
  const auto npoly = long_vector(npoly_t, "npoly");
  const auto poly_lens = long_vector(poly_lens_t, "poly_lens");
  const auto coords = as_double(coords_t, "coords").view(-1);
  const auto ucount_lens = long_vector(ucount_lens_t, "ucount_lens");
  const auto ucounts = long_vector(ucounts_t, "ucounts");
  const auto str_lens = long_vector(str_lens_t, "str_lens");
  check_cpu(chars_t, "chars");
  TORCH_CHECK(chars_t.scalar_type() == at::kByte, "chars must be uint8");
  const auto chars = chars_t.contiguous();
  const int64_t n = static_cast<int64_t>(kinds.size());
  for (const auto* v : {&h, &w, &npoly, &ucount_lens, &str_lens})
    TORCH_CHECK(static_cast<int64_t>(v->size()) == n, "segmentation spec: per-item arrays must have ",
                n, " entries, got ", v->size());
  // Offsets of each item's data.
  std::vector<int64_t> poly_first(n + 1, 0), coord_first, ucount_first(n + 1, 0), str_first(n + 1, 0);
  for (int64_t j = 0; j < n; ++j) {
    TORCH_CHECK(kinds[j] >= 0 && kinds[j] <= 3, "segmentation spec: unknown kind ", kinds[j]);
    TORCH_CHECK(h[j] >= 0 && w[j] >= 0, "segmentation ", j, " has a negative size");
    poly_first[j + 1] = poly_first[j] + npoly[j];
    ucount_first[j + 1] = ucount_first[j] + ucount_lens[j];
    str_first[j + 1] = str_first[j] + str_lens[j];
  }
  TORCH_CHECK(poly_first[n] == static_cast<int64_t>(poly_lens.size()),
              "segmentation spec: npoly adds up to ", poly_first[n], " but poly_lens has ",
              poly_lens.size(), " entries");
  coord_first.assign(poly_lens.size() + 1, 0);
  for (size_t q = 0; q < poly_lens.size(); ++q) {
    TORCH_CHECK(poly_lens[q] >= 0, "segmentation spec: negative polygon length");
    coord_first[q + 1] = coord_first[q] + poly_lens[q];
  }
  TORCH_CHECK(coord_first.back() == coords.numel(), "segmentation spec: polygons hold ",
              coord_first.back(), " numbers but coords has ", coords.numel());
  TORCH_CHECK(ucount_first[n] == static_cast<int64_t>(ucounts.size()),
              "segmentation spec: ucount_lens does not match ucounts");
  TORCH_CHECK(str_first[n] <= chars.numel(), "segmentation spec: str_lens exceeds chars");
  for (int64_t j = 0; j < n; ++j) {
    if (kinds[j] != 1) continue;
    for (int64_t q = poly_first[j]; q < poly_first[j + 1]; ++q)
      TORCH_CHECK(poly_lens[q] == 4, "segmentation ", j, ": a box needs 4 numbers, got ",
                  poly_lens[q]);
  }
  const double* xy = coords.data_ptr<double>();
  const char* s = reinterpret_cast<const char*>(chars.data_ptr<uint8_t>());
  std::vector<Rle> out(n);
  std::atomic<int64_t> bad{-1};
  tva::parallel_for(n, 64, [&](int64_t b, int64_t e) {
    std::vector<Rle> parts;
    std::vector<const Rle*> ptrs;
    for (int64_t j = b; j < e; ++j) {
      const uint64_t H = h[j], W = w[j];
      switch (kinds[j]) {
        case 0:
        case 1: {
          parts.clear();
          for (int64_t q = poly_first[j]; q < poly_first[j + 1]; ++q) {
            const double* c = xy + coord_first[q];
            if (kinds[j] == 0)
              parts.push_back(rle_from_polygon(c, poly_lens[q] / 2, H, W));
            else
              parts.push_back(rle_from_bbox({c[0], c[1], c[2], c[3]}, H, W));
          }
          if (parts.empty()) {
            out[j].h = H;
            out[j].w = W;
            out[j].counts = {static_cast<uint32_t>(H * W)};
          } else if (parts.size() == 1) {
            out[j] = std::move(parts[0]); // the merge of one mask is itself
          } else {
            ptrs.clear();
            for (const auto& r : parts) ptrs.push_back(&r);
            out[j] = rle_merge(ptrs, false);
          }
          break;
        }
        case 2: {
          out[j].h = H;
          out[j].w = W;
          out[j].counts.resize(ucount_lens[j]);
          for (int64_t q = 0; q < ucount_lens[j]; ++q)
            out[j].counts[q] = static_cast<uint32_t>(ucounts[ucount_first[j] + q]);
          break;
        }
        case 3:
          if (!rle_from_string(s + str_first[j], str_lens[j], H, W, out[j])) bad = j;
          break;
      }
    }
  });
  TORCH_CHECK(bad.load() < 0, "segmentation ", bad.load(), " has a malformed counts string");
  return pack_rles(out);
}

// ---- evaluation -----------------------------------------------------------------------------

void fill_common(AnnotationSet& s, const std::vector<at::Tensor>& t, const char* what) {
  s.img = long_vector(t[0], "image index");
  s.cat = long_vector(t[1], "category index");
  s.id = long_vector(t[2], "id");
  s.area = to_vector<double>(as_double(t[3], "area").view(-1));
  const size_t n = s.img.size();
  TORCH_CHECK(s.cat.size() == n && s.id.size() == n && s.area.size() == n, what,
              ": image, category, id and area arrays must have the same length");
}

std::vector<Box> boxes_of(const at::Tensor& t_in, size_t n, const char* what) {
  const auto t = as_double(t_in, what);
  TORCH_CHECK(t.dim() == 2 && t.size(1) == 4 && static_cast<size_t>(t.size(0)) == n, what,
              " should be [", n, ", 4], got ", t.sizes());
  std::vector<Box> out(n);
  std::memcpy(out.data(), t.data_ptr<double>(), n * 4 * sizeof(double));
  return out;
}

// OKS of every detection with every gt (cocoeval.computeOks on already sorted detections).
at::Tensor keypoint_oks_op(const at::Tensor& dt_in, const at::Tensor& gt_in,
                           const at::Tensor& box_in, const at::Tensor& area_in,
                           const at::Tensor& vars_in) {
  const auto vars = to_vector<double>(as_double(vars_in, "vars").view(-1));
  const int64_t kk = 3 * static_cast<int64_t>(vars.size());
  const auto dt = as_double(dt_in, "dt keypoints");
  const auto gt = as_double(gt_in, "gt keypoints");
  TORCH_CHECK(dt.dim() == 2 && dt.size(1) == kk, "dt keypoints should be [N, ", kk,
              "] (3 numbers per sigma), got ", dt.sizes());
  TORCH_CHECK(gt.dim() == 2 && gt.size(1) == kk, "gt keypoints should be [M, ", kk,
              "] (3 numbers per sigma), got ", gt.sizes());
  const int64_t m = dt.size(0), n = gt.size(0);
  const auto boxes = boxes_of(box_in, n, "gt bbox");
  const auto area = to_vector<double>(as_double(area_in, "gt area").view(-1));
  TORCH_CHECK(static_cast<int64_t>(area.size()) == n, "gt area should have one entry per gt (", n,
              "), got ", area.size());
  const double* d = dt.data_ptr<double>();
  const double* g = gt.data_ptr<double>();
  return pairwise_matrix(m, n, [&](int64_t i, int64_t j) {
    return keypoint_oks(d + i * kk, g + j * kk, boxes[j], area[j], vars);
  });
}

// Points s at a batch of compressed RLEs [chars, lens, h, w] after checking its shape.
void attach_rles(AnnotationSet& s, const std::vector<at::Tensor>& t, const char* what,
                 at::Tensor& keep) {
  TORCH_CHECK(t.size() == 4, what, " must be [chars, lens, h, w], got ", t.size(), " tensors");
  check_cpu(t[0], what);
  TORCH_CHECK(t[0].scalar_type() == at::kByte, what, ": counts characters must be uint8, got ",
              t[0].scalar_type());
  keep = t[0].contiguous();
  const auto lens = long_vector(t[1], "lens");
  s.rle_h = long_vector(t[2], "h");
  s.rle_w = long_vector(t[3], "w");
  const size_t n = lens.size();
  TORCH_CHECK(n == s.size() && s.rle_h.size() == n && s.rle_w.size() == n, what,
              ": one segmentation per annotation is needed (", s.size(), "), got ", n);
  s.rle_off.assign(n + 1, 0);
  for (size_t j = 0; j < n; ++j) {
    TORCH_CHECK(lens[j] >= 0 && s.rle_h[j] >= 0 && s.rle_w[j] >= 0, what, ": RLE ", j,
                " has a negative length or size");
    s.rle_off[j + 1] = s.rle_off[j] + lens[j];
  }
  TORCH_CHECK(s.rle_off[n] <= keep.numel(), what, ": string lengths add up to ", s.rle_off[n],
              " characters but only ", keep.numel(), " were given");
  s.rle_chars = reinterpret_cast<const char*>(keep.data_ptr<uint8_t>());
}

std::vector<at::Tensor> evaluate_op(const std::vector<at::Tensor>& gt_t,
                                    const std::vector<at::Tensor>& dt_t,
                                    const std::vector<at::Tensor>& gt_segm,
                                    const std::vector<at::Tensor>& dt_segm, int64_t num_imgs,
                                    int64_t num_cats, const at::Tensor& iou_thrs,
                                    const at::Tensor& area_rng_t, int64_t max_det, bool detail,
                                    const std::vector<at::Tensor>& keypoints, bool no_ious) {
  TORCH_CHECK(gt_t.size() == 7, "gt must be [img, cat, id, area, iscrowd, ignore, bbox]");
  TORCH_CHECK(dt_t.size() == 6, "dt must be [img, cat, id, area, score, bbox]");
  TORCH_CHECK(num_imgs >= 0 && num_cats >= 0, "num_imgs and num_cats must be >= 0");
  AnnotationSet gt, dt;
  at::Tensor gt_chars, dt_chars; // keep the strings alive during evaluate
  fill_common(gt, gt_t, "gt");
  fill_common(dt, dt_t, "dt");
  const auto crowd = long_vector(gt_t[4], "iscrowd");
  const auto ignore = long_vector(gt_t[5], "ignore");
  TORCH_CHECK(crowd.size() == gt.size() && ignore.size() == gt.size(),
              "gt iscrowd and ignore must have one entry per gt");
  for (size_t j = 0; j < gt.size(); ++j) {
    gt.iscrowd.push_back(crowd[j] != 0);
    gt.ignore.push_back(ignore[j] != 0);
  }
  dt.score = to_vector<double>(as_double(dt_t[4], "score").view(-1));
  TORCH_CHECK(dt.score.size() == dt.size(), "dt scores must have one entry per detection");
  EvalParams p;
  p.iou_thrs = to_vector<double>(as_double(iou_thrs, "iouThrs").view(-1));
  const auto ar = as_double(area_rng_t, "areaRng");
  TORCH_CHECK(ar.dim() == 2 && ar.size(1) == 2, "areaRng should be [A, 2], got ", ar.sizes());
  for (int64_t a = 0; a < ar.size(0); ++a)
    p.area_rng.push_back({ar[a][0].item<double>(), ar[a][1].item<double>()});
  p.max_det = max_det;
  p.detail = detail;
  p.segm = !gt_segm.empty() || !dt_segm.empty();
  p.keypoints = !keypoints.empty();
  p.no_ious = no_ious;
  TORCH_CHECK(!(p.segm && p.keypoints), "evaluate: give segmentations or keypoints, not both");
  if (p.keypoints) {
    TORCH_CHECK(keypoints.size() == 3, "keypoints must be [gt keypoints, dt keypoints, variances]");
    p.kpt_vars = to_vector<double>(as_double(keypoints[2], "kpt variances").view(-1));
    const int64_t kk = 3 * static_cast<int64_t>(p.kpt_vars.size());
    const auto gk = as_double(keypoints[0], "gt keypoints");
    const auto dk = as_double(keypoints[1], "dt keypoints");
    TORCH_CHECK(gk.dim() == 2 && gk.size(0) == static_cast<int64_t>(gt.size()) && gk.size(1) == kk,
                "gt keypoints should be [", gt.size(), ", ", kk, "] (3 numbers per sigma), got ",
                gk.sizes());
    TORCH_CHECK(dk.dim() == 2 && dk.size(0) == static_cast<int64_t>(dt.size()) && dk.size(1) == kk,
                "dt keypoints should be [", dt.size(), ", ", kk, "] (3 numbers per sigma), got ",
                dk.sizes());
    gt.kpts = to_vector<double>(gk);
    dt.kpts = to_vector<double>(dk);
    gt.bbox = boxes_of(gt_t[6], gt.size(), "gt bbox");
  } else if (p.segm) {
    // The strings stay compressed: evaluate parses only the masks it compares.
    attach_rles(gt, gt_segm, "gt segmentation", gt_chars);
    attach_rles(dt, dt_segm, "dt segmentation", dt_chars);
  } else {
    gt.bbox = boxes_of(gt_t[6], gt.size(), "gt bbox");
    dt.bbox = boxes_of(dt_t[5], dt.size(), "dt bbox");
  }
  const EvalResult r = evaluate(gt, dt, num_imgs, num_cats, p);
  TORCH_CHECK(r.bad_rle < 0, r.bad_rle < static_cast<int64_t>(gt.size()) ? "gt" : "dt",
              " segmentation ", r.bad_rle < static_cast<int64_t>(gt.size()) ? r.bad_rle
              : r.bad_rle - static_cast<int64_t>(gt.size()), " has a malformed counts string");
  return {long_tensor(r.dt_off),      long_tensor(r.dt_order),   double_tensor(r.dt_score),
          byte_tensor(r.valid),       long_tensor(r.npig),       byte_tensor(r.flags),
          long_tensor(r.gt_off),      long_tensor(r.gt_order),   byte_tensor(r.gt_ignore),
          double_tensor(r.dt_matches), double_tensor(r.gt_matches)};
}

std::vector<at::Tensor> accumulate_op(const at::Tensor& dt_off, const at::Tensor& dt_score,
                                      const at::Tensor& valid, const at::Tensor& npig,
                                      const at::Tensor& flags, int64_t num_imgs, int64_t num_cats,
                                      int64_t num_areas, int64_t num_thrs, const at::Tensor& k_list,
                                      const at::Tensor& a_list, const at::Tensor& m_list,
                                      const at::Tensor& i_list, const at::Tensor& rec_thrs,
                                      int64_t K, int64_t A, int64_t M) {
  EvalResult e;
  e.num_imgs = num_imgs;
  e.num_cats = num_cats;
  e.num_areas = num_areas;
  e.num_thrs = num_thrs;
  e.dt_off = long_vector(dt_off, "dt_off");
  e.dt_score = to_vector<double>(as_double(dt_score, "dt_score").view(-1));
  check_cpu(valid, "valid");
  check_cpu(flags, "flags");
  e.valid = to_vector<uint8_t>(valid.to(at::kByte));
  e.npig = long_vector(npig, "npig");
  e.flags = to_vector<uint8_t>(flags.to(at::kByte));
  const int64_t G = num_imgs * num_cats;
  TORCH_CHECK(static_cast<int64_t>(e.dt_off.size()) == G + 1 &&
                  static_cast<int64_t>(e.valid.size()) == G &&
                  static_cast<int64_t>(e.npig.size()) == G * num_areas &&
                  static_cast<int64_t>(e.flags.size()) == num_areas * num_thrs * e.dt_off.back() &&
                  static_cast<int64_t>(e.dt_score.size()) == e.dt_off.back(),
              "accumulate: evaluation arrays do not match the given sizes");
  AccumulateArgs args;
  args.k_list = long_vector(k_list, "k_list");
  args.a_list = long_vector(a_list, "a_list");
  args.m_list = long_vector(m_list, "m_list");
  args.i_list = long_vector(i_list, "i_list");
  for (auto a : args.a_list)
    TORCH_CHECK(a >= 0 && a < num_areas, "accumulate: area index ", a, " out of range");
  args.rec_thrs = to_vector<double>(as_double(rec_thrs, "recThrs").view(-1));
  args.K = K;
  args.A = A;
  args.M = M;
  TORCH_CHECK(static_cast<int64_t>(args.k_list.size()) <= K &&
                  static_cast<int64_t>(args.a_list.size()) <= A &&
                  static_cast<int64_t>(args.m_list.size()) <= M,
              "accumulate: index lists longer than the output");
  const Accumulated acc = accumulate(e, args);
  const int64_t T = num_thrs, R = static_cast<int64_t>(args.rec_thrs.size());
  return {double_tensor(acc.precision).view({T, R, K, A, M}),
          double_tensor(acc.recall).view({T, K, A, M}),
          double_tensor(acc.scores).view({T, R, K, A, M})};
}

} // namespace

TORCH_LIBRARY_FRAGMENT(torchvision_adapter, m) {
  m.def("coco_rle_encode(Tensor masks) -> Tensor[]", &rle_encode_op);
  m.def("coco_rle_decode(Tensor chars, Tensor lens, Tensor h, Tensor w) -> Tensor", &rle_decode_op);
  m.def("coco_rle_area(Tensor chars, Tensor lens, Tensor h, Tensor w) -> Tensor", &rle_area_op);
  m.def("coco_rle_area_bbox(Tensor chars, Tensor lens, Tensor h, Tensor w) -> Tensor[]",
        &rle_area_bbox_op);
  m.def("coco_rle_to_bbox(Tensor chars, Tensor lens, Tensor h, Tensor w) -> Tensor",
        &rle_to_bbox_op);
  m.def("coco_rle_merge(Tensor chars, Tensor lens, Tensor h, Tensor w, bool intersect) -> Tensor[]",
        &rle_merge_op);
  m.def("coco_bbox_iou(Tensor dt, Tensor gt, Tensor iscrowd) -> Tensor", &bbox_iou_op);
  m.def("coco_rle_iou(Tensor[] dt, Tensor[] gt, Tensor iscrowd) -> Tensor", &rle_iou_op);
  m.def(
      "coco_keypoint_oks(Tensor dt, Tensor gt, Tensor gt_bbox, Tensor gt_area, Tensor vars) -> "
      "Tensor",
      &keypoint_oks_op);
  m.def(
      "coco_segm_to_rle(Tensor kinds, Tensor h, Tensor w, Tensor npoly, Tensor poly_lens, "
      "Tensor coords, Tensor ucount_lens, Tensor ucounts, Tensor str_lens, Tensor chars) -> Tensor[]",
      &segm_to_rle_op);
  m.def(
      "coco_evaluate(Tensor[] gt, Tensor[] dt, Tensor[] gt_segm, Tensor[] dt_segm, int num_imgs, "
      "int num_cats, Tensor iou_thrs, Tensor area_rng, int max_det, bool detail, "
      "Tensor[] keypoints, bool no_ious) -> Tensor[]",
      &evaluate_op);
  m.def(
      "coco_accumulate(Tensor dt_off, Tensor dt_score, Tensor valid, Tensor npig, Tensor flags, "
      "int num_imgs, int num_cats, int num_areas, int num_thrs, Tensor k_list, Tensor a_list, "
      "Tensor m_list, Tensor i_list, Tensor rec_thrs, int K, int A, int M) -> Tensor[]",
      &accumulate_op);
}

} // namespace coco
} // namespace tva
