// COCO run-length encoding. Each function follows the arithmetic of pycocotools' maskApi.c step by
// step (its integer types, its rounding, its treatment of degenerate input), because the numbers
// COCO evaluation reports depend on every pixel these produce.
#include "coco/rle.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdlib>

namespace tva {
namespace coco {
namespace {

// Truncating double -> int conversion as x86's cvttsd2si performs it (the machine pycocotools is
// built for): NaN and out-of-range values become INT_MIN instead of being undefined behaviour.
inline int trunc_to_int(double v) {
  if (!(v > -2147483649.0 && v < 2147483648.0)) return INT_MIN;
  return static_cast<int>(v);
}

inline uint32_t umin(uint32_t a, uint32_t b) {
  return a < b ? a : b;
}
inline uint32_t umax(uint32_t a, uint32_t b) {
  return a > b ? a : b;
}

} // namespace

Rle rle_encode(const uint8_t* mask, uint64_t h, uint64_t w) {
  Rle r;
  r.h = h;
  r.w = w;
  const uint64_t a = h * w;
  uint8_t p = 0;
  uint32_t c = 0;
  for (uint64_t j = 0; j < a; ++j) {
    // Raw byte comparison, as maskApi: masks are expected to hold 0 and 1.
    const uint8_t v = mask[j];
    if (v != p) {
      r.counts.push_back(c);
      c = 0;
      p = v;
    }
    ++c;
  }
  r.counts.push_back(c);
  return r;
}

bool rle_decode(const Rle& r, uint8_t* out) {
  const uint64_t total = r.h * r.w;
  uint64_t pos = 0;
  uint8_t v = 0;
  for (uint32_t c : r.counts) {
    if (c > total - pos) return false;
    std::fill(out + pos, out + pos + c, v);
    pos += c;
    v = !v;
  }
  if (pos < total) std::fill(out + pos, out + total, 0);
  return true;
}

Rle rle_merge(const std::vector<const Rle*>& rles, bool intersect) {
  Rle out;
  const size_t n = rles.size();
  if (n == 0) return out;
  out.h = rles[0]->h;
  out.w = rles[0]->w;
  std::vector<uint32_t> cnts = rles[0]->counts;
  if (n == 1) {
    out.counts = cnts;
    return out;
  }
  for (size_t i = 1; i < n; ++i) {
    const Rle& B = *rles[i];
    if (B.h != out.h || B.w != out.w) {
      out.h = out.w = 0;
      cnts.clear();
      break;
    }
    const std::vector<uint32_t> A = cnts;
    cnts.clear();
    // The first run of an empty count list is read as zero (maskApi reads past a zero-length
    // array here; zero is the only meaningful value).
    uint32_t ca = A.empty() ? 0 : A[0];
    uint32_t cb = B.counts.empty() ? 0 : B.counts[0];
    int v = 0, va = 0, vb = 0, vp;
    size_t a = 1, b = 1;
    uint32_t cc = 0, ct = 1, c;
    while (ct > 0) {
      c = umin(ca, cb);
      cc += c;
      ct = 0;
      ca -= c;
      if (!ca && a < A.size()) {
        ca = A[a++];
        va = !va;
      }
      ct += ca;
      cb -= c;
      if (!cb && b < B.counts.size()) {
        cb = B.counts[b++];
        vb = !vb;
      }
      ct += cb;
      vp = v;
      v = intersect ? (va && vb) : (va || vb);
      if (v != vp || ct == 0) {
        cnts.push_back(cc);
        cc = 0;
      }
    }
  }
  out.counts = std::move(cnts);
  return out;
}

uint64_t rle_area(const Rle& r) {
  // maskApi accumulates in a 32-bit unsigned integer.
  uint32_t a = 0;
  for (size_t j = 1; j < r.counts.size(); j += 2) a += r.counts[j];
  return a;
}

Box rle_to_bbox(const Rle& r) {
  const uint32_t h = static_cast<uint32_t>(r.h);
  const uint32_t w = static_cast<uint32_t>(r.w);
  const size_t m = (r.counts.size() / 2) * 2;
  if (m == 0 || h == 0) return {0, 0, 0, 0};
  uint32_t xs = w, ys = h, xe = 0, ye = 0, xp = 0;
  // maskApi divides the running pixel count by h at every run boundary; the column and row of
  // that count are tracked incrementally here instead (same numbers, no division per run).
  uint32_t cx = 0, cy = 0; // running count = cx * h + cy, 0 <= cy < h
  for (size_t j = 0; j < m; ++j) {
    const uint32_t c = r.counts[j];
    if (c >= h) {
      cx += c / h;
      cy += c % h;
    } else {
      cy += c;
    }
    if (cy >= h) {
      cy -= h;
      ++cx;
    }
    uint32_t x, y;
    if (j % 2 == 0) {
      x = cx;
      y = cy;
    } else if (cy == 0 && cx == 0) { // empty leading runs: maskApi's unsigned count wraps
      const uint32_t t = 0u - 1u;
      y = t % h;
      x = (t - y) / h;
    } else if (cy == 0) { // the last pixel of a run of ones, one before the running count
      x = cx - 1;
      y = h - 1;
    } else {
      x = cx;
      y = cy - 1;
    }
    if (j % 2 == 0) {
      xp = x;
    } else if (xp < x) {
      ys = 0;
      ye = h - 1;
    }
    xs = umin(xs, x);
    xe = umax(xe, x);
    ys = umin(ys, y);
    ye = umax(ye, y);
  }
  return {double(xs), double(ys), double(xe) - double(xs) + 1.0, double(ye) - double(ys) + 1.0};
}

Rle rle_from_polygon(const double* xy, uint64_t k, uint64_t h, uint64_t w) {
  // Upsample by 5 and walk the boundary densely.
  const double scale = 5;
  std::vector<int> x(k + 1), y(k + 1);
  for (uint64_t j = 0; j < k; ++j) x[j] = trunc_to_int(scale * xy[j * 2 + 0] + .5);
  for (uint64_t j = 0; j < k; ++j) y[j] = trunc_to_int(scale * xy[j * 2 + 1] + .5);
  if (k > 0) {
    x[k] = x[0];
    y[k] = y[0];
  }
  // maskApi walks the boundary densely, stores every point (u, v) and then keeps, for each pair of
  // consecutive points where u changes, the pixel (column m, row from min(v)), m being the smaller
  // u, when m is the centre of an upsampled column. The kept values are sorted afterwards, so only
  // the set of pairs matters: within an edge the pairs are found directly (every fifth column for
  // flat edges, the steps where u moves for steep ones); the pair joining two edges goes through
  // the general test.
  std::vector<uint32_t> a;
  {
    // At most one kept pair per five upsampled columns of each edge, plus the joins.
    uint64_t cap = 2 * k + 1;
    for (uint64_t j = 0; j < k; ++j)
      cap += static_cast<uint64_t>(std::abs(long(x[j + 1]) - long(x[j]))) / 5;
    a.reserve(std::min<uint64_t>(cap, uint64_t{1} << 24));
  }
  auto keep = [&](long m, int v0, int v1) {
    // maskApi tests whether xd = (m + .5) / 5 - .5 is an integer in [0, w - 1] and takes the row
    // ceil(clamp((v + .5) / 5 - .5, 0, h)). In doubles both are exact for the integers here:
    // (m + .5) / 5 - .5 equals (m - 2) / 5 when 5 divides m - 2 and is at least 0.2 away from any
    // integer otherwise, so the same numbers come from integer arithmetic.
    const long q = m - 2;
    if (q % 5 != 0) return;
    const long xi = q / 5;
    // (w - 1 wraps around for w = 0 there: no upper bound.)
    if (xi < 0 || (w > 0 && static_cast<uint64_t>(xi) > w - 1)) return;
    const long v = long(v0 < v1 ? v0 : v1) - 2; // row (v + .5) / 5 - .5 = v' / 5
    const long yi = v <= 0 ? 0 : (v > 5 * long(h) ? long(h) : (v + 4) / 5);
    const int cell = static_cast<int>(xi) * static_cast<int>(h) + static_cast<int>(yi);
    a.push_back(static_cast<uint32_t>(cell));
  };
  bool have_prev = false;
  int pu = 0, pv = 0;
  for (uint64_t j = 0; j < k; ++j) {
    int xs = x[j], xe = x[j + 1], ys = y[j], ye = y[j + 1];
    const int dx = std::abs(xe - xs), dy = std::abs(ys - ye);
    const bool flip = (dx >= dy && xs > xe) || (dx < dy && ys > ye);
    if (flip) {
      std::swap(xs, xe);
      std::swap(ys, ye);
    }
    const double s = dx >= dy ? double(ye - ys) / dx : double(xe - xs) / dy;
    // Point t of the edge (t = 0 .. n); the walk visits t = 0 .. n, or n .. 0 when flipped.
    const int n = dx >= dy ? dx : dy;
    auto pt_u = [&](int t) { return dx >= dy ? t + xs : trunc_to_int(xs + s * t + .5); };
    auto pt_v = [&](int t) { return dx >= dy ? trunc_to_int(ys + s * t + .5) : t + ys; };
    {
      const int t0 = flip ? n : 0;
      const int uu = pt_u(t0), vv = pt_v(t0);
      if (have_prev && uu != pu) keep(uu < pu ? long(uu) : long(uu) - 1, vv, pv);
    }
    if (dx >= dy) {
      // u = xs + t: the pair (t, t + 1) has m = xs + t, whatever the direction.
      long t = ((2 - long(xs)) % 5 + 5) % 5;
      for (; t < n; t += 5) keep(long(xs) + t, pt_v(int(t)), pt_v(int(t) + 1));
    } else if (dx > 0) { // (a vertical edge keeps u, and forms no pair)
      // v = ys + t; only the steps where u moves form pairs.
      int up = pt_u(0);
      for (int t = 0; t < n; ++t) {
        const int un = pt_u(t + 1);
        if (un != up) {
          // The walk goes from t to t + 1, or back when flipped.
          const long m = flip ? (up < un ? long(up) : long(up) - 1)
                              : (un < up ? long(un) : long(un) - 1);
          keep(m, ys + t, ys + t + 1);
        }
        up = un;
      }
    }
    const int t1 = flip ? 0 : n;
    pu = pt_u(t1);
    pv = pt_v(t1);
    have_prev = true;
  }
  a.push_back(static_cast<uint32_t>(h * w));
  std::sort(a.begin(), a.end());
  uint32_t p = 0;
  for (auto& e : a) {
    const uint32_t t = e;
    e -= p;
    p = t;
  }
  Rle r;
  r.h = h;
  r.w = w;
  size_t j = 0;
  r.counts.reserve(a.size());
  r.counts.push_back(a[j++]);
  while (j < a.size()) {
    if (a[j] > 0) {
      r.counts.push_back(a[j++]);
    } else {
      ++j;
      if (j < a.size()) r.counts.back() += a[j++];
    }
  }
  return r;
}

Rle rle_from_bbox(const Box& b, uint64_t h, uint64_t w) {
  const double xs = b.x, xe = xs + b.w, ys = b.y, ye = ys + b.h;
  const double xy[8] = {xs, ys, xs, ye, xe, ye, xe, ys};
  return rle_from_polygon(xy, 4, h, w);
}

std::string rle_to_string(const Rle& r) {
  std::string s;
  s.reserve(r.counts.size() * 2);
  for (size_t i = 0; i < r.counts.size(); ++i) {
    long x = static_cast<long>(r.counts[i]);
    if (i > 2) x -= static_cast<long>(r.counts[i - 2]);
    bool more = true;
    while (more) {
      char c = static_cast<char>(x & 0x1f);
      x >>= 5;
      more = (c & 0x10) ? x != -1 : x != 0;
      if (more) c |= 0x20;
      c += 48;
      s.push_back(c);
    }
  }
  return s;
}

bool rle_from_string(const char* s, uint64_t len, uint64_t h, uint64_t w, Rle& r) {
  r.h = h;
  r.w = w;
  r.counts.clear();
  r.counts.reserve(len);
  const char* p = s;
  const char* end = s + len;
  while (p < end && *p) {
    long x = 0;
    int k = 0, c;
    do {
      if (p >= end || !*p || k >= 12) {
        r.counts.clear();
        return false;
      }
      c = static_cast<signed char>(*p - 48);
      x |= static_cast<long>(c & 0x1f) << (5 * k);
      ++p;
      ++k;
    } while (c & 0x20);
    if (c & 0x10) x |= -(1L << (5 * k)); // sign extension
    const size_t m = r.counts.size();
    if (m > 2) x += static_cast<long>(r.counts[m - 2]);
    r.counts.push_back(static_cast<uint32_t>(x));
  }
  return true;
}

namespace {

// rleIou's run walk: intersection and union in pixels.
void walk(const Rle& d, const Rle& g, uint32_t& inter, uint32_t& uni) {
  const size_t ka = d.counts.size(), kb = g.counts.size();
  uint32_t ca = ka ? d.counts[0] : 0, cb = kb ? g.counts[0] : 0, c, ct = 1;
  int va = 0, vb = 0;
  size_t a = 1, b = 1;
  uint32_t i = 0, u = 0;
  while (ct > 0) {
    c = umin(ca, cb);
    if (va || vb) {
      u += c;
      if (va && vb) i += c;
    }
    ct = 0;
    ca -= c;
    if (!ca && a < ka) {
      ca = d.counts[a++];
      va = !va;
    }
    ct += ca;
    cb -= c;
    if (!cb && b < kb) {
      cb = g.counts[b++];
      vb = !vb;
    }
    ct += cb;
  }
  inter = i;
  uni = u;
}

} // namespace

uint64_t rle_intersection(const Rle& a, const Rle& b) {
  uint32_t i, u;
  walk(a, b, i, u);
  return i;
}

double box_iou(const Box& D, const Box& G, bool crowd) {
  const double ga = G.w * G.h;
  const double da = D.w * D.h;
  const double w = std::fmin(D.w + D.x, G.w + G.x) - std::fmax(D.x, G.x);
  if (w <= 0) return 0;
  const double h = std::fmin(D.h + D.y, G.h + G.y) - std::fmax(D.y, G.y);
  if (h <= 0) return 0;
  const double i = w * h;
  const double u = crowd ? da : da + ga - i;
  return i / u;
}

double rle_iou(const Rle& d, const Rle& g, uint64_t area_d, uint64_t area_g, const Box& box_d,
               const Box& box_g, bool crowd) {
  (void)area_g;
  if (!(box_iou(box_d, box_g, crowd) > 0)) return 0;
  if (d.h != g.h || d.w != g.w) return -1;
  uint32_t i, u;
  walk(d, g, i, u);
  if (i == 0)
    u = 1;
  else if (crowd)
    u = static_cast<uint32_t>(area_d);
  return double(i) / double(u);
}

} // namespace coco
} // namespace tva
