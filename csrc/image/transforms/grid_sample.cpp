// The sampling step of rotate, affine, perspective and elastic_transform: torchvision builds a
// sampling grid (kept in Python, computed by torchvision's own code so that it is bit for bit the
// same), appends a channel of ones to the image when a fill colour is given, calls grid_sample
// (zeros padding, align_corners=False) and blends the fill in with the sampled ones-channel as mask.
// Here the corner positions and weights of each output pixel are computed once and applied to every
// channel, and the mask is the sum of the in-bounds weights, which is what sampling ones gives.
#include <cmath>
#include <vector>

#include "image/transforms/common.h"
#include "image/transforms/grid_sample_simd.h"
#include "image/transforms/resample_simd.h"
#include "common/reuse.h"
#include "image/transforms/transforms.h"

namespace tva {
namespace image {
namespace {

template <typename T>
struct Source {
  const T* data;
  int64_t sn, sc, sh, sw;
  float at(int64_t n, int64_t ch, int64_t y, int64_t x) const {
    return static_cast<float>(data[n * sn + ch * sc + y * sh + x * sw]);
  }
};

// Grid of an explicit [1, H_out, W_out, 2] tensor.
struct TensorGrid {
  const float* g;
  int64_t ow;
  // Unnormalised source coordinates of output row oy (grid_sample, align_corners=False).
  void row(int64_t oy, float sx, float sy, float* xs_out, float* ys_out) const {
    for (int64_t ox = 0; ox < ow; ++ox) {
      const float* p = g + (oy * ow + ox) * 2;
      xs_out[ox] = (p[0] + 1.0f) * sx - 0.5f;
      ys_out[ox] = (p[1] + 1.0f) * sy - 0.5f;
    }
  }
};

// elastic_transform's grid, identity plus displacement, without materialising it: torchvision's
// _create_identity_grid holds xs[j] (x) and ys[i] (y) at [0, i, j], and the displacement
// [1, H, W, 2] is added to it, the same float additions as here.
struct DisplacedGrid {
  const float* xs;
  const float* ys;
  const float* disp;
  int64_t ow;
  void row(int64_t oy, float sx, float sy, float* xs_out, float* ys_out) const {
    const float* p = disp + oy * ow * 2;
    const float y = ys[oy];
    for (int64_t ox = 0; ox < ow; ++ox) {
      xs_out[ox] = ((xs[ox] + p[2 * ox]) + 1.0f) * sx - 0.5f;
      ys_out[ox] = ((y + p[2 * ox + 1]) + 1.0f) * sy - 0.5f;
    }
  }
};

// torchvision's _gen_affine_grid / _perspective_grid without materialising it: base grid point
// (x, y, 1) times a 3x2 matrix, evaluated as torch's batched matmul evaluates a 3-term dot product
// here (fma(y, b, x * a) + c, checked bit for bit against torch), then for a perspective divided by
// the same product with the denominator matrix, minus 1.
struct ProjectiveGrid {
  const float* xs;
  const float* ys;
  int64_t ow;
  float t[6];  // rows x, y, 1 of the [3, 2] matrix: t[2 * row + column]
  float d[6];
  bool perspective;
  void row(int64_t oy, float sx, float sy, float* xs_out, float* ys_out) const {
    simd::projective_row(xs, ow, ys[oy], t, d, perspective, sx, sy, xs_out, ys_out);
  }
};

// One output row. A function of plain parameters: uint8 stores may alias anything, so values read
// through a closure would be reloaded after every store.
template <typename T>
void sample_row(const T* __restrict__ data, int64_t n, int64_t c, int64_t sn, int64_t sc, int64_t sh,
                int64_t sw, int64_t h, int64_t w, const float* __restrict__ row_x,
                const float* __restrict__ row_y, int64_t ow, bool nearest, bool has_fill,
                const float* __restrict__ fill_values, T* __restrict__ orow, int64_t plane_size) {
  auto put = [](T* dst, float v) {
    if constexpr (std::is_same<T, uint8_t>::value) {
      *dst = to_u8(round_half_even(v));
    } else {
      *dst = v;
    }
  };
  for (int64_t ox = 0; ox < ow; ++ox) {
    const float x = row_x[ox], y = row_y[ox];
    if (nearest) {
      const float xr = round_half_even(x), yr = round_half_even(y);
      const bool inside = xr >= 0 && xr < w && yr >= 0 && yr < h;
      const int64_t off = inside ? static_cast<int64_t>(yr) * sh + static_cast<int64_t>(xr) * sw : 0;
      for (int64_t b = 0; b < n; ++b) {
        for (int64_t ch = 0; ch < c; ++ch) {
          T* dst = orow + (b * c + ch) * plane_size + ox;
          if (inside) {
            *dst = data[b * sn + ch * sc + off];  // an exact copy, as sampling at a pixel centre is
          } else {
            put(dst, has_fill ? fill_values[ch] : 0.0f);  // the sampled mask is 0 there (< 0.5)
          }
        }
      }
      continue;
    }
    const float fx = floor_fast(x), fy = floor_fast(y);
    const float dw = x - fx, dn = y - fy;  // distances to the west column and north row
    const float de = (fx + 1.0f) - x, ds = (fy + 1.0f) - y;
    const float wnw = ds * de, wne = ds * dw, wsw = dn * de, wse = dn * dw;
    const bool finite = std::fabs(fx) < 1e9f && std::fabs(fy) < 1e9f;
    const int64_t x0 = finite ? static_cast<int64_t>(fx) : -2, y0 = finite ? static_cast<int64_t>(fy) : -2;
    const bool in_w = x0 >= 0 && x0 < w, in_e = x0 + 1 >= 0 && x0 + 1 < w;
    const bool in_n = y0 >= 0 && y0 < h, in_s = y0 + 1 >= 0 && y0 + 1 < h;
    const bool nw = in_n && in_w, ne = in_n && in_e, sw_ = in_s && in_w, se = in_s && in_e;
    float mask = 0.0f;
    if (has_fill) {
      mask = (nw ? wnw : 0.0f) + (ne ? wne : 0.0f);
      mask = mask + (sw_ ? wsw : 0.0f);
      mask = mask + (se ? wse : 0.0f);
    }
    const int64_t o_nw = y0 * sh + x0 * sw;
    for (int64_t b = 0; b < n; ++b) {
      for (int64_t ch = 0; ch < c; ++ch) {
        const T* p = data + b * sn + ch * sc;
        const float vnw = nw ? static_cast<float>(p[o_nw]) : 0.0f;
        const float vne = ne ? static_cast<float>(p[o_nw + sw]) : 0.0f;
        const float vsw = sw_ ? static_cast<float>(p[o_nw + sh]) : 0.0f;
        const float vse = se ? static_cast<float>(p[o_nw + sh + sw]) : 0.0f;
        float v = vnw * wnw + vne * wne;
        v = v + vsw * wsw;
        v = v + vse * wse;
        if (has_fill) v = v * mask + (1.0f - mask) * fill_values[ch];
        put(orow + (b * c + ch) * plane_size + ox, v);
      }
    }
  }
}

template <typename T, typename Grid>
void sample(const at::Tensor& in4, const Grid& grid, int64_t oh, int64_t ow, bool nearest,
            bool has_fill, const std::vector<float>& fills, T* out) {
  const int64_t n = in4.size(0), c = in4.size(1), h = in4.size(2), w = in4.size(3);
  const T* data = in4.data_ptr<T>();
  const int64_t sn = in4.stride(0), sc = in4.stride(1), sh = in4.stride(2), sw = in4.stride(3);
  const float sx = static_cast<float>(w) / 2, sy = static_cast<float>(h) / 2;
  const int64_t plane_size = oh * ow;
  // The SIMD sampler addresses pixels with 32-bit offsets, and reads uint8 pixels 4 bytes at a time.
  const int64_t extent = 1 + (n - 1) * sn + (c - 1) * sc + (h - 1) * sh + (w - 1) * sw;
  if (n * c * h * w > 0 && extent >= 4 && extent < (int64_t{1} << 31) && h < (int64_t{1} << 24) &&
      w < (int64_t{1} << 24)) {
    const simd::SampleImage im{data, std::is_same<T, uint8_t>::value, n, c, h, w, sn, sc, sh, sw,
                               extent, nearest, has_fill, fills.data()};
    parallel_items(oh, ow * c * n * 4, [=, &grid, &im](int64_t begin, int64_t end) {
      std::vector<float> row_x(ow), row_y(ow);
      for (int64_t oy = begin; oy < end; ++oy) {
        grid.row(oy, sx, sy, row_x.data(), row_y.data());
        simd::sample_row(im, row_x.data(), row_y.data(), ow, out + oy * ow, plane_size);
      }
    });
    return;
  }
  // Everything the inner loops read is copied into locals: stores through a uint8_t pointer may
  // alias anything, so values reached through references would be reloaded after every store.
  parallel_items(oh, ow * c * n * 4, [=, &grid, &fills](int64_t begin, int64_t end) {
    const float* fill_values = fills.data();
    std::vector<float> row_x(ow), row_y(ow);
    for (int64_t oy = begin; oy < end; ++oy) {
      grid.row(oy, sx, sy, row_x.data(), row_y.data());
      sample_row<T>(data, n, c, sn, sc, sh, sw, h, w, row_x.data(), row_y.data(), ow, nearest, has_fill,
                    fill_values, out + oy * ow, plane_size);
    }
  });
}

} // namespace

namespace {

template <typename Grid>
at::Tensor run_sampler(
    const at::Tensor& img, const Grid& grid, int64_t oh, int64_t ow, c10::string_view mode,
    at::ArrayRef<double> fill, bool has_fill) {
  check_image(img, 3, "grid_transform");
  check_u8_or_f32(img, "grid_transform");
  TORCH_CHECK(img.dim() <= 4, "grid_transform: img should be [C, H, W] or [N, C, H, W], got ", img.sizes());
  const bool nearest = mode == "nearest";
  TORCH_CHECK(nearest || mode == "bilinear", "grid_transform: mode should be nearest or bilinear, got ", mode);
  const at::Tensor in4 = img.dim() == 3 ? img.unsqueeze(0) : img;
  const int64_t n = in4.size(0), c = in4.size(1);
  TORCH_CHECK(
      !has_fill || fill.size() == 1 || static_cast<int64_t>(fill.size()) == c,
      "grid_transform: fill should have 1 or ", c, " values, got ", fill.size());
  at::Tensor out = empty_recycled({n, c, oh, ow}, img.options());
  std::vector<float> fills(c, 0.0f);
  for (int64_t k = 0; k < c && has_fill; ++k) fills[k] = static_cast<float>(fill[fill.size() == 1 ? 0 : k]);
  if (img.scalar_type() == at::kByte) {
    sample<uint8_t>(in4, grid, oh, ow, nearest, has_fill, fills, out.data_ptr<uint8_t>());
  } else {
    sample<float>(in4, grid, oh, ow, nearest, has_fill, fills, out.data_ptr<float>());
  }
  return img.dim() == 3 ? out.squeeze(0) : out;
}

void load_matrix(const at::Tensor& m, float* dst, const char* name) {
  TORCH_CHECK(
      m.scalar_type() == at::kFloat && m.numel() == 6 && m.dim() == 2 && m.size(0) == 3,
      "grid_transform: ", name, " should be a float32 [3, 2] tensor, got ", m.scalar_type(), " ", m.sizes());
  const at::Tensor c = m.contiguous();
  for (int k = 0; k < 6; ++k) dst[k] = c.data_ptr<float>()[k];
}

} // namespace

at::Tensor grid_transform(
    const at::Tensor& img, const at::Tensor& grid, c10::string_view mode, at::ArrayRef<double> fill,
    bool has_fill) {
  TORCH_CHECK(
      grid.dim() == 4 && grid.size(0) == 1 && grid.size(3) == 2 && grid.scalar_type() == at::kFloat,
      "grid_transform: grid should be a float32 [1, H_out, W_out, 2] tensor, got ", grid.scalar_type(),
      " ", grid.sizes());
  const at::Tensor g = grid.contiguous();
  const TensorGrid tg{g.data_ptr<float>(), g.size(2)};
  return run_sampler(img, tg, g.size(1), g.size(2), mode, fill, has_fill);
}

at::Tensor displaced_grid_transform(
    const at::Tensor& img, const at::Tensor& xs, const at::Tensor& ys, const at::Tensor& displacement,
    c10::string_view mode, at::ArrayRef<double> fill, bool has_fill) {
  TORCH_CHECK(
      xs.dim() == 1 && ys.dim() == 1 && xs.scalar_type() == at::kFloat && ys.scalar_type() == at::kFloat &&
          xs.numel() > 0 && ys.numel() > 0,
      "grid_transform: xs and ys should be non-empty 1-D float32 tensors");
  TORCH_CHECK(
      displacement.dim() == 4 && displacement.size(0) == 1 && displacement.size(1) == ys.numel() &&
          displacement.size(2) == xs.numel() && displacement.size(3) == 2 &&
          displacement.scalar_type() == at::kFloat,
      "grid_transform: displacement should be a float32 [1, ", ys.numel(), ", ", xs.numel(), ", 2] tensor, got ",
      displacement.scalar_type(), " ", displacement.sizes());
  const at::Tensor x = xs.contiguous(), y = ys.contiguous(), d = displacement.contiguous();
  const DisplacedGrid dg{x.data_ptr<float>(), y.data_ptr<float>(), d.data_ptr<float>(), x.numel()};
  return run_sampler(img, dg, y.numel(), x.numel(), mode, fill, has_fill);
}

at::Tensor projective_transform(
    const at::Tensor& img, const at::Tensor& xs, const at::Tensor& ys, const at::Tensor& theta,
    const c10::optional<at::Tensor>& denominator, c10::string_view mode, at::ArrayRef<double> fill,
    bool has_fill) {
  TORCH_CHECK(
      xs.dim() == 1 && ys.dim() == 1 && xs.scalar_type() == at::kFloat && ys.scalar_type() == at::kFloat &&
          xs.numel() > 0 && ys.numel() > 0,
      "grid_transform: xs and ys should be non-empty 1-D float32 tensors");
  const at::Tensor x = xs.contiguous(), y = ys.contiguous();
  ProjectiveGrid pg{x.data_ptr<float>(), y.data_ptr<float>(), x.numel(), {}, {}, denominator.has_value()};
  load_matrix(theta, pg.t, "theta");
  if (pg.perspective) load_matrix(*denominator, pg.d, "denominator");
  return run_sampler(img, pg, y.numel(), x.numel(), mode, fill, has_fill);
}

} // namespace image
} // namespace tva
